"""Local mode's choice of LLM, against the real ollama client on a real socket."""

from __future__ import annotations

import pytest

from llf.exceptions import ConfigurationError
from llf.local.airflow import free_port
from llf.local.llm import choose_llm
from tests.support.standins.ollama_server import OllamaBehaviour, ollama_server


@pytest.fixture(autouse=True)
def no_llm_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLF_LLM_PROVIDER", "LLF_LLM_MODEL", "LLF_EMBED_MODEL", "OLLAMA_HOST"):
        monkeypatch.delenv(name, raising=False)


def test_given_ollama_answering_with_the_models_when_chosen_then_the_demo_uses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ollama_server() as ollama:
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)

        choice = choose_llm()

    assert choice.env == {"LLF_LLM_PROVIDER": "ollama", "OLLAMA_HOST": ollama.url}
    assert "Ollama at" in choice.description


def test_given_no_ollama_when_chosen_then_llama_cpp_runs_in_process_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OLLAMA_HOST", closed)

    choice = choose_llm()

    assert choice.env == {"LLF_LLM_PROVIDER": "llamacpp"}
    assert f"no Ollama answered at OLLAMA_HOST={closed}" in choice.description
    assert "llama.cpp" in choice.description


def test_given_ollama_without_the_models_when_chosen_then_the_error_names_the_pulls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ollama_server(OllamaBehaviour(models={"llama3.2"})) as ollama:
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)

        with pytest.raises(ConfigurationError, match="ollama pull nomic-embed-text"):
            choose_llm()


def test_given_an_explicit_provider_when_chosen_then_it_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLF_LLM_PROVIDER", "openai")

    assert choose_llm().env == {"LLF_LLM_PROVIDER": "openai"}
