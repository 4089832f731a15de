"""The llama.cpp provider: the real `llama-cpp-python` running the real gemma-3-270m GGUF, in process (its
embeddings come from all-MiniLM-L6-v2 on onnxruntime: tests/services/test_local_embedder.py).

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

from llf.context import RunContext
from llf.exceptions import ConfigurationError
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

    # all-MiniLM-L6-v2's width (local_embedder), not the GGUF's (gemma-3-270m: 640): the chat model embeds nothing
    assert len({len(vector) for vector in vectors}) == 1 and len(vectors[0]) == 384
    assert all(math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-3) for vector in vectors)
    # Same text, same direction up to float noise: a batch's shape and the CPU's SIMD width may change the last
    # bits, so the vectors are compared by cosine, as search uses them, never bit by bit.
    assert _cosine(vectors[0], vectors[2]) >= 0.9999
    assert _cosine(vectors[0], vectors[1]) < 0.9  # the bound tells texts apart (measured 0.23 here)


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


SENTIMENTS = ["positive", "negative", "neutral"]
# Written for these tests. Obvious cases only: with three labels and three examples gemma-3-270m calls some
# clear complaints neutral (the sentiment example needs twelve examples), so labels are checked on two.
EXAMPLES = [
    ("This is a lovely, comfortable chair.", "positive"),
    ("The lamp has a white shade.", "neutral"),
    ("The kettle leaks and smells of plastic.", "negative"),
]
OBVIOUS = {
    "I love it, wonderful!": "positive",
    "Awful. It broke on the first day and I hate it.": "negative",
    "Great, it works perfectly.": "positive",
    "Terrible service, I am very angry.": "negative",
}


def test_given_obvious_texts_when_classified_on_llamacpp_then_the_likeliest_label_wins(local_env: None) -> None:
    results = open_llm().classify_many(
        list(OBVIOUS),
        ["positive", "negative"],
        instruction="Classify the sentiment of the sentence as positive or negative.",
        examples=[example for example in EXAMPLES if example[1] != "neutral"],
        template="Sentence: {text}",
    )

    assert [result.label for result in results] == list(OBVIOUS.values())
    assert {result.method for result in results} == {"likelihood"}
    assert all(result.confidence > 0.5 for result in results)  # two labels: the winner has the larger share


def test_given_three_labels_and_orders_when_classified_on_llamacpp_then_the_confidence_is_the_winners(
    local_env: None,
) -> None:
    result = open_llm().classify(
        "I love it, wonderful!", SENTIMENTS, examples=EXAMPLES, template="Sentence: {text}", orders=3)

    assert list(result.probabilities) == SENTIMENTS
    assert math.isclose(math.fsum(result.probabilities.values()), 1.0, rel_tol=1e-9)
    assert all(0 < probability < 1 for probability in result.probabilities.values())
    assert result.confidence == max(result.probabilities.values()) == result.probabilities[result.label]


def test_given_labels_when_scored_then_they_match_llama_cpps_own_logprobs(local_env: None) -> None:
    """The cheap scoring (shared context, no logits_all) against llama-cpp-python's echo logprobs, which need a
    second instance with logits_all=True. A label's first token is read off the prompt's batch like the echo's,
    so it matches to float noise; each further token comes from a single-token decode, which llama.cpp computes
    with other kernels than a batch on this quantized model (up to 0.13 nats apart per token, measured), so
    those get 0.15 each: an off-by-one token or a stale context would be several nats off."""
    import llama_cpp

    provider = open_llm().provider
    messages = [{"role": "user", "content": "Is the weather nice today?"}]
    labels = ["maybe", "yes, very nice", "no, it is raining"]

    scored = provider.score(provider.settings.model, messages, labels)

    reference = llama_cpp.Llama(model_path=provider.model_path, n_ctx=128, n_threads=provider.threads,
                                logits_all=True, verbose=False)
    try:
        prompt = transcript(messages, None)
        # "...Assistant:" with its BOS; each label's first token takes the space (" maybe"). Echoed logprobs
        # start after the BOS and end with the generated token, so a label's tokens are [prompt_tokens - 1:-1].
        prompt_tokens = len(reference.tokenize(prompt.rstrip().encode("utf-8"), special=True))
        label_tokens = 0
        for label in labels:
            echoed = reference.create_completion(prompt + label, max_tokens=1, echo=True, logprobs=1, temperature=0)
            label_logprobs = echoed["choices"][0]["logprobs"]["token_logprobs"][prompt_tokens - 1 : -1]
            tolerance = 1e-3 + 0.15 * (len(label_logprobs) - 1)
            assert scored.logprobs[label] == pytest.approx(math.fsum(label_logprobs), abs=tolerance)
            label_tokens += len(label_logprobs)
    finally:
        reference.close()
    assert scored.completion_tokens == label_tokens > len(labels)  # some labels are several tokens


def test_given_other_prompts_in_between_when_scored_again_then_the_reused_context_gives_the_same_scores(
    local_env: None,
) -> None:
    provider = open_llm().provider
    model = provider.settings.model
    first = [{"role": "user", "content": "Sentence: The soup was cold."}]
    other = [{"role": "user", "content": "Sentence: The sofa is grey."}]
    labels = ["positive", "very negative"]

    fresh = provider.score(model, first, labels)
    provider.score(model, other, labels)  # leaves its own prompt in the shared context
    open_llm().complete("Count to 3:", max_tokens=4)  # and a completion on the same model instance
    again = provider.score(model, first, labels)

    assert again.logprobs == pytest.approx(fresh.logprobs, abs=1e-3)
    assert fresh.completion_tokens >= 3  # "very negative" is more than one token


def test_given_a_run_when_classified_twice_then_usage_is_recorded_and_the_second_comes_from_the_cache(
    local_env: None, sql, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunContext(strem_nm="s1", prcs_nm="p1", business_date="2024-01-31", run_id="manual__1")
    monkeypatch.setenv("LLF_RUN_CONTEXT", run.model_dump_json())

    first = open_llm().classify("I love it, wonderful!", ["positive", "negative"])
    second = open_llm().classify("I love it, wonderful!", ["positive", "negative"])

    assert second.label == first.label and second.confidence == pytest.approx(first.confidence)
    rows = sql("SELECT operation_nm, prompt_tokens, cache_hit_flg FROM cntl_af.cntl_llm_usage ORDER BY usage_id")
    assert [(operation, hit) for operation, _, hit in rows] == [("chat", False), ("chat", True)]
    assert rows[0][1] > 0 and rows[1][1] == 0


def test_given_a_cached_answer_when_another_gguf_answers_then_it_is_asked_itself(
    local_env: None, sql, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from llf.services.llm.llamacpp_model import packaged_model, packaged_sha256

    open_llm().complete("Hello", max_tokens=2)
    own = tmp_path / "my-model.gguf"
    own.symlink_to(packaged_model())  # the same bytes under your own path: another file as far as llf can tell
    monkeypatch.setenv("LLF_LLAMACPP_MODEL_PATH", str(own))
    open_llm().complete("Hello", max_tokens=2)

    digests = sorted(row[0]["digest"] for row in sql("SELECT request FROM cntl_af.cntl_llm_cache"))
    assert len(digests) == 2 and digests[0].startswith("file:")
    assert digests[1] == f"sha256:{packaged_sha256()}"
    assert [row[0] for row in sql("SELECT cache_hit_flg FROM cntl_af.cntl_llm_usage ORDER BY usage_id")] == [
        False, False]
