"""The provider interface: one chat call and one embed call, translated to llf's errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


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


class Provider(Protocol):
    """A backend. Raises TransientLlmError for retryable failures, ConfigurationError for setting errors."""

    name: str

    def chat(
        self, model: str, messages: list[dict[str, str]], json_schema: dict | None, options: dict[str, Any]
    ) -> Reply: ...

    def embed(self, model: str, texts: list[str]) -> Embeddings: ...
