"""Fixtures for the service tests: stand-in servers on real sockets."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tests.support.standins.ollama_server import OllamaStandin, ollama_server


@pytest.fixture(scope="session")
def postgres(postgres):  # extends the session fixture of tests/conftest.py
    """The shared server, after collecting yoyo's unreferenced template connection.

    llf.control.migrations.upgrade leaves yoyo's connection to the template open until garbage collection,
    and CREATE DATABASE ... TEMPLATE refuses a template in use. (To fix for good: close it in upgrade().)
    """
    gc.collect()
    return postgres


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLF_LLM_PROVIDER=llamacpp with the packaged models (gemma GGUF, MiniLM ONNX); no cache, hooks or run context."""
    for name in ("LLF_LLM_CACHE", "LLF_LLM_HOOKS", "LLF_RUN_CONTEXT", "LLF_LLAMACPP_MODEL_PATH", "LLF_CONTROL_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLF_LLM_PROVIDER", "llamacpp")
    monkeypatch.setenv("LLF_LLAMACPP_THREADS", "2")


@pytest.fixture
def minio_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The LLF_MINIO_* variables pointing at the S3 stand-in; returns the endpoint."""
    monkeypatch.setenv("LLF_MINIO_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("LLF_MINIO_ACCESS_KEY", "testing")
    monkeypatch.setenv("LLF_MINIO_SECRET_KEY", "testing-secret")
    monkeypatch.delenv("LLF_MINIO_SECURE", raising=False)
    return s3_endpoint


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[OllamaStandin]:
    """The Ollama stand-in, with OLLAMA_HOST and the LLM settings pointing at it and fast retries."""
    for name in ("LLF_LLM_PROVIDER", "LLF_LLM_CACHE", "LLF_LLM_HOOKS", "LLF_LLM_REASKS", "LLF_RUN_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    with ollama_server() as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        monkeypatch.setenv("LLF_OPENAI_BASE_URL", f"{server.url}/v1")
        monkeypatch.setenv("LLF_LLM_MODEL", "llama3.2")
        monkeypatch.setenv("LLF_EMBED_MODEL", "nomic-embed-text")
        monkeypatch.setenv("LLF_LLM_RETRY_WAIT", "0.01")
        monkeypatch.setenv("LLF_LLM_TIMEOUT", "10")
        yield server
