"""Any OpenAI-compatible endpoint (vLLM, LM Studio, Ollama's /v1, OpenAI) through the `openai` client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from llf.exceptions import ConfigurationError
from llf.secrets import redact
from llf.services.llm.base import Embeddings, Reply
from llf.services.llm.errors import TransientLlmError
from llf.services.llm.settings import LlmSettings


class OpenAIProvider:
    name = "openai"

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self.client = openai.OpenAI(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key or "not-needed",  # local servers ignore it, the client wants one
            timeout=settings.timeout_s,
            max_retries=0,  # llf retries itself, with one policy for every provider
        )

    def chat(
        self, model: str, messages: list[dict[str, str]], json_schema: dict | None, options: dict[str, Any]
    ) -> Reply:
        response_format = (
            {"type": "json_schema", "json_schema": {"name": "answer", "schema": json_schema}}
            if json_schema
            else openai.NOT_GIVEN
        )
        with self._errors(model, "LLF_LLM_MODEL"):
            # The SDK types messages and response_format as its TypedDicts; llf's plain dicts hold what they do.
            response = self.client.chat.completions.create(  # type: ignore[call-overload]
                model=model, messages=messages, response_format=response_format, **options
            )
        usage = response.usage
        return Reply(
            text=response.choices[0].message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    def embed(self, model: str, texts: list[str]) -> Embeddings:
        with self._errors(model, "LLF_EMBED_MODEL"):
            response = self.client.embeddings.create(model=model, input=texts)
        ordered = sorted(response.data, key=lambda item: item.index)
        return Embeddings(
            vectors=[list(item.embedding) for item in ordered],
            prompt_tokens=response.usage.prompt_tokens if response.usage else 0,
        )

    @contextmanager
    def _errors(self, model: str, model_setting: str) -> Iterator[None]:
        base_url = redact(self.settings.openai_base_url)
        try:
            yield
        except openai.APITimeoutError as error:
            raise TransientLlmError(
                f"{base_url} did not answer within {self.settings.timeout_s:g} s (LLF_LLM_TIMEOUT).",
                timed_out=True,
            ) from error
        except openai.APIConnectionError as error:
            raise TransientLlmError(f"Cannot connect to {base_url} (LLF_OPENAI_BASE_URL).") from error
        except (openai.RateLimitError, openai.InternalServerError) as error:
            raise TransientLlmError(f"{base_url} answered {error.status_code}: {error.message}") from error
        except openai.AuthenticationError as error:
            raise ConfigurationError(f"{base_url} refused the key: check LLF_OPENAI_API_KEY.") from error
        except openai.NotFoundError as error:
            raise ConfigurationError(
                f"{base_url} has no model {model!r} ({model_setting}): {error.message}"
            ) from error
