"""The LLM service: `open_llm()` → a client with complete / chat / embed / map over Ollama, any
OpenAI-compatible endpoint, or llama.cpp in process (the `local` extra)."""

from __future__ import annotations

from llf.context import current_run_context
from llf.services.control_store import control_store
from llf.services.llm.base import Provider
from llf.services.llm.client import LlmClient
from llf.services.llm.errors import LlmUnavailableError, StructuredOutputError
from llf.services.llm.settings import LlmSettings

__all__ = ["LlmClient", "LlmSettings", "LlmUnavailableError", "StructuredOutputError", "open_llm"]


def open_llm(model: str | None = None, provider: str | None = None) -> LlmClient:
    """A client for `provider` (default LLF_LLM_PROVIDER, else ollama) and `model` (default LLF_LLM_MODEL)."""
    settings = LlmSettings.from_env(model=model, provider=provider)
    backend: Provider
    if settings.provider == "ollama":
        from llf.services.llm.ollama_provider import OllamaProvider

        backend = OllamaProvider(settings)
    elif settings.provider == "llamacpp":
        from llf.services.llm.llamacpp_provider import LlamaCppProvider

        backend = LlamaCppProvider(settings)
    else:
        from llf.services.llm.openai_provider import OpenAIProvider

        backend = OpenAIProvider(settings)
    return LlmClient(settings, backend, current_run_context(), control_store())
