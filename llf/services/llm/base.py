"""The provider interface: one chat call and one embed call, translated to llf's errors; a provider that can
read its model's probabilities also scores labels (`Scorer`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Reply:
    """One chat answer with what the server reports about its cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    server_ms: int | None = None


@dataclass(frozen=True)
class Embeddings:
    """Vectors for a batch of texts, in input order."""

    vectors: list[list[float]]
    prompt_tokens: int = 0
    server_ms: int | None = None


@dataclass(frozen=True)
class LabelScores:
    """Each label's log-probability as the model's answer, with what computing them cost."""

    logprobs: dict[str, float]
    prompt_tokens: int = 0
    completion_tokens: int = 0  # label tokens evaluated after the prompt
    server_ms: int | None = None


class Provider(Protocol):
    """A backend. Raises TransientLlmError for retryable failures, ConfigurationError for setting errors."""

    name: str

    def chat(
        self, model: str, messages: list[dict[str, str]], json_schema: dict | None, options: dict[str, Any]
    ) -> Reply: ...

    def embed(self, model: str, texts: list[str]) -> Embeddings: ...


@runtime_checkable
class Scorer(Protocol):
    """A provider that can score given answers by its model's likelihood (llama.cpp in process).

    Servers that only return generated text (Ollama, most OpenAI-compatible ones) are not scorers: the client
    classifies with them through structured output instead.
    """

    def score(self, model: str, messages: list[dict[str, str]], labels: list[str]) -> LabelScores: ...


@runtime_checkable
class Fingerprinted(Protocol):
    """A provider that can say which build of a model it serves (Ollama's digest, the GGUF's sha256).

    The response cache keys on it, so a re-pulled or replaced model never answers from an older model's cache.
    """

    def digest(self, model: str) -> str | None: ...
