"""Which LLM local mode gives the notebooks: Ollama when it answers at OLLAMA_HOST, else llama.cpp in process."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import ollama

from llf.exceptions import ConfigurationError
from llf.services.llm.llamacpp_provider import model_path  # imports llama_cpp only when a provider opens
from llf.services.llm.settings import LlmSettings
from llf.settings import LLM_PROVIDER

PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class LlmChoice:
    env: dict[str, str]  # what the Airflow components (and so the notebooks) get
    description: str  # what the demo tells the user


def choose_llm() -> LlmChoice:
    """LLF_LLM_PROVIDER when set; else Ollama if it lists the models the examples use; else llama.cpp."""
    explicit = LLM_PROVIDER.given()
    if explicit:
        return LlmChoice({"LLF_LLM_PROVIDER": explicit}, f"LLM: {explicit} (LLF_LLM_PROVIDER).")
    settings = LlmSettings.from_env(provider="ollama")
    host = settings.ollama_host
    try:
        listed = ollama.Client(host=host, timeout=PROBE_TIMEOUT_S).list()
    except (httpx.HTTPError, ollama.ResponseError, ConnectionError) as error:
        return _llamacpp(f"no Ollama answered at OLLAMA_HOST={host} ({type(error).__name__})")
    available = {model.model for model in listed.models} | {
        (model.model or "").removesuffix(":latest") for model in listed.models}
    missing = [name for name in (settings.model, settings.embed_model) if name not in available]
    if missing:
        pulls = " && ".join(f"ollama pull {name}" for name in missing)
        raise ConfigurationError(
            f"Ollama at OLLAMA_HOST={host} answers but lacks the model(s) {missing}: run `{pulls}`, "
            "or set LLF_LLM_MODEL / LLF_EMBED_MODEL to models it has, or LLF_LLM_PROVIDER=llamacpp."
        )
    return LlmChoice({"LLF_LLM_PROVIDER": "ollama", "OLLAMA_HOST": host},
                     f"LLM: Ollama at {host} ({settings.model}, embeddings {settings.embed_model}).")


def _llamacpp(reason: str) -> LlmChoice:
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigurationError(
            f"{reason}, and llama-cpp-python (the in-process fallback) is not installed: start Ollama "
            "(https://ollama.com) or install the local extra: pip install 'llf[local]'."
        )
    return LlmChoice(
        {"LLF_LLM_PROVIDER": "llamacpp"},
        f"LLM: {reason}; using llama.cpp in process with gemma-3-270m (LLF_LLM_PROVIDER=llamacpp). "
        "A 270M base model: slower and far less accurate than an Ollama model.",
    )


def prepare_model(choice: LlmChoice, say: Callable[[str], None]) -> None:
    """With llama.cpp, the GGUF is made ready once, here, before any stream runs: otherwise the first notebooks
    (several kernels at once) would each find it missing and join its 250 MB on the clock of their tasks.
    A missing or wrong LLF_LLAMACPP_MODEL_PATH is also reported now, not by the first notebook."""
    if choice.env.get("LLF_LLM_PROVIDER") != "llamacpp":
        return
    model_path(LlmSettings.from_env(provider="llamacpp").llamacpp_model_path, announce=say)
