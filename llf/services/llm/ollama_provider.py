"""Ollama through the official `ollama` client: JSON schema in `format`, one /api/embed per batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import ollama

from llf.exceptions import ConfigurationError
from llf.secrets import redact
from llf.services.llm.base import Embeddings, Reply
from llf.services.llm.errors import TransientLlmError
from llf.services.llm.settings import LlmSettings


class OllamaProvider:
    name = "ollama"

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self.client = ollama.Client(host=settings.ollama_host, timeout=settings.timeout_s)

    def chat(
        self, model: str, messages: list[dict[str, str]], json_schema: dict | None, options: dict[str, Any]
    ) -> Reply:
        with self._errors(model, "LLF_LLM_MODEL"):
            response = self.client.chat(
                model=model, messages=messages, format=json_schema, options=options or None, stream=False
            )
        return Reply(
            text=response.message.content or "",
            prompt_tokens=response.prompt_eval_count or 0,
            completion_tokens=response.eval_count or 0,
            server_ms=_ms(response.total_duration),
        )

    def embed(self, model: str, texts: list[str]) -> Embeddings:
        with self._errors(model, "LLF_EMBED_MODEL"):
            response = self.client.embed(model=model, input=texts)
        return Embeddings(
            vectors=[list(vector) for vector in response.embeddings],
            prompt_tokens=response.prompt_eval_count or 0,
            server_ms=_ms(response.total_duration),
        )

    def digest(self, model: str) -> str | None:
        """The digest Ollama lists for `model` (`llama3.2` is `llama3.2:latest`), None when it has no such model."""
        with self._errors(model, "LLF_LLM_MODEL"):
            listed = self.client.list().models
        names = {model, model if ":" in model else f"{model}:latest"}
        return next((entry.digest for entry in listed if entry.model in names), None)

    @contextmanager
    def _errors(self, model: str, model_setting: str) -> Iterator[None]:
        host = redact(self.settings.ollama_host)
        try:
            yield
        except ConnectionError as error:
            raise TransientLlmError(f"Cannot connect to Ollama at {host} (OLLAMA_HOST).") from error
        except httpx.TimeoutException as error:
            raise TransientLlmError(
                f"Ollama at {host} did not answer within {self.settings.timeout_s:g} s (LLF_LLM_TIMEOUT).",
                timed_out=True,
            ) from error
        except httpx.TransportError as error:
            raise TransientLlmError(
                f"Ollama at {host} (OLLAMA_HOST) broke the connection: {error}"
            ) from error
        except ollama.ResponseError as error:
            if error.status_code == 429 or error.status_code >= 500:
                raise TransientLlmError(f"Ollama answered {error.status_code}: {error.error}") from error
            if error.status_code == 404:
                raise ConfigurationError(
                    f"Ollama at {host} has no model {model!r} ({model_setting}): pull it "
                    f"(`ollama pull {model}`) or set {model_setting} to one of `ollama list`."
                ) from error
            raise


def _ms(nanoseconds: int | None) -> int | None:
    return None if nanoseconds is None else int(nanoseconds / 1_000_000)
