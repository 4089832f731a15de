"""The llama.cpp provider: the real `llama-cpp-python` running the real gemma-3-270m GGUF, in process.

llama-cpp-python comes with the `local` extra, which the test environment installs (requirements/dev.lock);
answers are kept short (small max_tokens) so each inference stays around a second on two cores.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from llf.exceptions import ConfigurationError
from llf.runner.context import RunContext
from llf.services.llm import open_llm
from llf.services.llm.llamacpp_provider import ARRAY_CAP, STRING_CAP, bounded, transcript
from llf.services.llm.settings import LLAMACPP_DEFAULT_MODEL


class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float


class Pick(BaseModel):
    product_id: str = Field(description="the id of one of the candidates")


class Picks(BaseModel):
    products: list[Pick] = Field(description="best first")


class Numbers(BaseModel):
    values: list[int]


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLF_LLM_PROVIDER=llamacpp with the packaged model; no cache, hooks or run context."""
    for name in ("LLF_LLM_CACHE", "LLF_LLM_HOOKS", "LLF_RUN_CONTEXT", "LLF_LLAMACPP_MODEL_PATH", "LLF_CONTROL_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLF_LLM_PROVIDER", "llamacpp")
    monkeypatch.setenv("LLF_LLAMACPP_THREADS", "2")


def test_given_llamacpp_without_the_extra_when_opened_then_the_error_names_the_pip_install(
    local_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what `import llama_cpp` meets without the extra

    with pytest.raises(ConfigurationError, match=r"pip install 'llf\[local\]'"):
        open_llm()


def test_given_a_model_path_that_is_no_file_when_opened_then_the_error_names_the_setting(
    local_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLF_LLAMACPP_MODEL_PATH", str(tmp_path / "missing.gguf"))

    with pytest.raises(ConfigurationError, match="LLF_LLAMACPP_MODEL_PATH"):
        open_llm()


def test_given_a_prompt_when_completed_then_the_model_writes_text(local_env: None) -> None:
    answer = open_llm().complete("Name a colour of the sky.", system="Answer in one word.", max_tokens=8)

    assert isinstance(answer, str) and answer.strip()


def test_given_a_schema_when_asked_then_the_grammar_yields_a_validated_instance(local_env: None) -> None:
    llm = open_llm()

    answer = llm.complete("Sentence: I love this phone, it is wonderful!", schema=Sentiment, temperature=0)

    assert isinstance(answer, Sentiment)


def _cosine(left: list[float], right: list[float]) -> float:
    dot = math.fsum(a * b for a, b in zip(left, right, strict=True))
    return dot / math.sqrt(math.fsum(a * a for a in left) * math.fsum(b * b for b in right))


def test_given_texts_when_embedded_then_each_gets_a_unit_vector_of_the_model_dimension(local_env: None) -> None:
    vectors = open_llm().embed(["red shoes", "a blue shirt for summer", "red shoes"])

    assert len({len(vector) for vector in vectors}) == 1 and len(vectors[0]) == 640  # gemma-3-270m's width
    assert all(math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-3) for vector in vectors)
    # Same text, same direction up to float noise: llama.cpp's sums vary with the CPU's SIMD width and thread
    # split (~3e-6 relative seen), so the vectors are compared by cosine, as search uses them, never bit by bit.
    assert _cosine(vectors[0], vectors[2]) >= 0.9999
    assert _cosine(vectors[0], vectors[1]) < 0.9999  # the bound tells texts apart (measured 0.67 here)


def test_given_several_threads_when_mapped_then_calls_take_turns_on_the_one_model(local_env: None) -> None:
    results = open_llm().map([f"Count to {n}:" for n in (1, 2, 3)], concurrency=3, max_tokens=4)

    assert len(results) == 3 and all(isinstance(result, str) for result in results)


def test_given_a_prompt_longer_than_the_context_when_completed_then_the_error_names_the_setting(
    local_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLF_LLAMACPP_CONTEXT", "512")

    with pytest.raises(ConfigurationError, match="LLF_LLAMACPP_CONTEXT"):
        open_llm().complete("word " * 2000, max_tokens=1)


def test_given_an_ollama_only_option_when_completed_then_the_error_names_the_option(local_env: None) -> None:
    with pytest.raises(ConfigurationError, match="num_ctx"):
        open_llm().complete("hi", num_ctx=8192)


def test_given_a_run_when_called_then_usage_names_the_provider_and_the_gguf(
    local_env: None, sql, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunContext(strem_nm="s1", prcs_nm="p1", business_date="2024-01-31", run_id="manual__1")
    monkeypatch.setenv("LLF_RUN_CONTEXT", run.model_dump_json())

    open_llm().complete("Hello", max_tokens=2)

    ((provider, model, prompt_tokens),) = sql("SELECT provider_nm, model_nm, prompt_tokens FROM cntl_af.cntl_llm_usage")
    assert (provider, model) == ("llamacpp", LLAMACPP_DEFAULT_MODEL)
    assert prompt_tokens > 0


def test_given_a_schema_when_transcribed_then_the_fields_are_described_in_words_not_as_json_schema() -> None:
    prompt = transcript([{"role": "user", "content": "Recommend."}], Picks.model_json_schema())

    assert "products: a list of objects (product_id: the id of one of the candidates), best first" in prompt
    assert "$defs" not in prompt and prompt.endswith("Assistant: ")


def test_given_open_lists_and_text_when_bounded_then_the_grammar_caps_them_and_keeps_enums() -> None:
    schema = bounded({**Picks.model_json_schema(), "properties": {
        **Picks.model_json_schema()["properties"], "label": Sentiment.model_json_schema()["properties"]["label"]}})

    assert schema["properties"]["products"]["maxItems"] == ARRAY_CAP
    assert schema["$defs"]["Pick"]["properties"]["product_id"]["maxLength"] == STRING_CAP
    assert "maxLength" not in schema["properties"]["label"]


def test_given_a_list_a_base_model_would_never_close_when_asked_then_the_answer_is_valid_json(
    local_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLF_LLM_REASKS", "0")  # the first answer must already be whole JSON

    answer = open_llm().complete("Count from 1 to 100.", schema=Numbers, max_tokens=64)

    assert isinstance(answer, Numbers) and len(answer.values) <= ARRAY_CAP


def test_given_no_thread_setting_when_opened_then_llama_cpp_leaves_half_the_cores_free(
    local_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLF_LLAMACPP_THREADS")

    assert open_llm().provider.threads == max(1, (os.cpu_count() or 2) // 2)
