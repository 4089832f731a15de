"""The LLM client through the real `ollama` and `openai` clients against the Ollama stand-in on a socket."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path

import pytest
from pydantic import BaseModel

from llf.context import RunContext
from llf.exceptions import ConfigurationError
from llf.services.llm import LlmUnavailableError, StructuredOutputError, open_llm
from llf.services.llm.classification import by_likelihood, example_orders
from tests.support.standins.fake_embeddings import embed_text
from tests.support.standins.ollama_server import OllamaStandin, ollama_server


class Sentiment(BaseModel):
    label: str
    score: float


def usage_rows(sql) -> list[tuple]:
    return sql(
        "SELECT operation_nm, prompt_tokens, completion_tokens, attempt_cnt, cache_hit_flg"
        " FROM cntl_af.cntl_llm_usage ORDER BY usage_id"
    )


def test_given_a_prompt_when_completed_then_the_server_answer_comes_back(ollama: OllamaStandin) -> None:
    answer = open_llm().complete("hello there", system="be brief")

    assert answer == "echo: hello there"
    sent = ollama.behaviour.calls_to("/api/chat")[0]
    assert sent["model"] == "llama3.2"
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


def test_given_a_503_then_success_when_completed_then_the_call_is_retried(ollama: OllamaStandin, sql) -> None:
    ollama.behaviour.fail_next(1, status=503)

    assert open_llm().complete("hi") == "echo: hi"
    assert len(ollama.behaviour.calls_to("/api/chat")) == 2
    assert usage_rows(sql)[0][3] == 2


def test_given_a_400_when_completed_then_it_is_not_retried(ollama: OllamaStandin) -> None:
    ollama.behaviour.fail_next(1, status=400)

    with pytest.raises(Exception, match="400|scripted failure"):
        open_llm().complete("hi")
    assert len(ollama.behaviour.calls_to("/api/chat")) == 1


def test_given_invalid_json_then_valid_when_a_schema_is_asked_then_it_reasks_and_validates(
    ollama: OllamaStandin,
) -> None:
    ollama.behaviour.reply_with('{"label": "positive"}', '{"label": "positive", "score": 0.9}')

    result = open_llm().complete("great product!", schema=Sentiment)

    assert result == Sentiment(label="positive", score=0.9)
    first, second = ollama.behaviour.calls_to("/api/chat")
    assert first["format"] == Sentiment.model_json_schema()
    assert "score" in second["messages"][-1]["content"]  # the validation error is sent back
    assert second["messages"][-2] == {"role": "assistant", "content": '{"label": "positive"}'}


def test_given_a_model_that_never_fits_the_schema_when_asked_then_a_clear_error_after_the_reasks(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLF_LLM_REASKS", "2")
    ollama.behaviour.responder = lambda request: "not json at all"

    with pytest.raises(StructuredOutputError, match="LLF_LLM_REASKS=2"):
        open_llm().complete("x", schema=Sentiment)
    assert len(ollama.behaviour.calls_to("/api/chat")) == 3


def test_given_a_slow_server_when_the_timeout_passes_then_the_error_names_llf_llm_timeout(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLF_LLM_TIMEOUT", "0.2")
    monkeypatch.setenv("LLF_LLM_ATTEMPTS", "2")
    ollama.behaviour.latency_s = 1.0

    with pytest.raises(LlmUnavailableError, match="LLF_LLM_TIMEOUT"):
        open_llm().complete("x")
    assert len(ollama.behaviour.calls_to("/api/chat")) == 2


def test_given_texts_when_embedded_then_one_request_per_batch_returns_the_vectors(
    ollama: OllamaStandin,
) -> None:
    texts = ["red shoes", "blue shirt", "green hat"]

    vectors = open_llm().embed(texts)

    assert [pytest.approx(vector) for vector in vectors] == [embed_text(text) for text in texts]
    (sent,) = ollama.behaviour.calls_to("/api/embed")
    assert (sent["model"], sent["input"]) == ("nomic-embed-text", texts)


def test_given_the_same_call_twice_when_cached_then_the_server_is_called_once(
    ollama: OllamaStandin, sql
) -> None:
    llm = open_llm()

    first = llm.complete("same", temperature=0)
    second = open_llm().complete("same", temperature=0)

    assert first == second
    assert len(ollama.behaviour.calls_to("/api/chat")) == 1
    assert [row[4] for row in usage_rows(sql)] == [False, True]


def test_given_different_options_when_called_then_the_cache_keys_differ(ollama: OllamaStandin, sql) -> None:
    llm = open_llm()

    llm.complete("same", temperature=0)
    llm.complete("same", temperature=1)
    llm.complete("same", schema=None, seed=3)

    assert len(ollama.behaviour.calls_to("/api/chat")) == 3


def test_given_a_cached_answer_when_another_server_is_asked_then_it_answers_itself(
    ollama: OllamaStandin, sql, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_llm().complete("same", temperature=0)

    with ollama_server() as other:
        monkeypatch.setenv("OLLAMA_HOST", other.url)
        open_llm().complete("same", temperature=0)

    assert len(other.behaviour.calls_to("/api/chat")) == 1
    assert [row[4] for row in usage_rows(sql)] == [False, False]


def test_given_a_cached_answer_when_the_model_is_pulled_again_then_the_new_build_answers(
    ollama: OllamaStandin, sql
) -> None:
    open_llm().complete("same", temperature=0)
    open_llm().complete("same", temperature=0)  # same build: from the cache

    ollama.behaviour.digests["llama3.2"] = "f" * 64
    open_llm().complete("same", temperature=0)

    assert len(ollama.behaviour.calls_to("/api/chat")) == 2
    assert [row[4] for row in usage_rows(sql)] == [False, True, False]


def test_given_the_model_list_unreadable_when_a_cached_call_repeats_then_the_cache_is_bypassed(
    ollama: OllamaStandin, sql
) -> None:
    open_llm().complete("same", temperature=0)
    ollama.behaviour.tags_failures = 1

    open_llm().complete("same", temperature=0)

    assert len(ollama.behaviour.calls_to("/api/chat")) == 2
    assert sql("SELECT count(*) FROM cntl_af.cntl_llm_cache")[0][0] == 1


def test_given_a_host_with_a_password_when_cached_then_the_stored_request_names_the_server_without_it(
    ollama: OllamaStandin, sql, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = ollama.url.replace("http://", "http://llf:s3cret-word@")
    monkeypatch.setenv("OLLAMA_HOST", host)

    open_llm().complete("same")

    ((request,),) = sql("SELECT request FROM cntl_af.cntl_llm_cache")
    assert request["endpoint"] == ollama.url.replace("http://", "http://llf:***@")
    assert request["digest"] == hashlib.sha256(b"llama3.2").hexdigest()
    assert "s3cret-word" not in json.dumps(request)


def test_given_the_cache_off_when_the_same_call_repeats_then_the_server_answers_each_time(
    ollama: OllamaStandin, sql, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLF_LLM_CACHE", "off")
    llm = open_llm()

    llm.complete("same")
    llm.complete("same")

    assert len(ollama.behaviour.calls_to("/api/chat")) == 2


def test_given_a_run_context_when_called_then_usage_is_recorded_against_the_run(
    ollama: OllamaStandin, sql, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunContext(strem_nm="s1", prcs_nm="p1", business_date="2024-01-31", run_id="manual__1")
    monkeypatch.setenv("LLF_RUN_CONTEXT", run.model_dump_json())

    open_llm().complete("four words are here")
    open_llm().embed(["a b"])

    rows = sql(
        "SELECT strem_nm, prcs_nm, business_date::text, run_id, provider_nm, model_nm, operation_nm,"
        " prompt_tokens, completion_tokens FROM cntl_af.cntl_llm_usage ORDER BY usage_id"
    )
    assert rows == [
        ("s1", "p1", "2024-01-31", "manual__1", "ollama", "llama3.2", "chat", 4, 5),
        ("s1", "p1", "2024-01-31", "manual__1", "ollama", "nomic-embed-text", "embed", 2, 0),
    ]


def test_given_no_control_db_when_called_then_the_call_still_works(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLF_CONTROL_DB_URL", raising=False)

    assert open_llm().complete("hi") == "echo: hi"


def test_given_many_prompts_when_mapped_then_results_keep_order_and_concurrency_is_bounded(
    ollama: OllamaStandin,
) -> None:
    ollama.behaviour.latency_s = 0.05
    items = list(range(12))

    results = open_llm().map(lambda n: f"item {n}", items, concurrency=3)

    assert results == [f"echo: item {n}" for n in items]
    assert ollama.behaviour.max_in_flight == 3


def test_given_a_long_batch_when_mapped_then_its_progress_is_recorded_against_the_run(
    ollama: OllamaStandin, sql, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunContext(strem_nm="s1", prcs_nm="p1", business_date="2024-01-31", run_id="manual__1")
    monkeypatch.setenv("LLF_RUN_CONTEXT", run.model_dump_json())
    monkeypatch.setattr("llf.services.llm.client.PROGRESS_EVERY_S", 0.3)
    ollama.behaviour.latency_s = 0.2

    open_llm().map(lambda n: f"item {n}", range(6), concurrency=1, description="asking")

    lines = [row[0] for row in sql("SELECT message FROM cntl_af.cntl_prcs_progress ORDER BY progress_id")]
    assert 2 <= len(lines) < 6
    assert all(line.startswith("asking: ") for line in lines)
    assert lines[-1].startswith("asking: 6/6 done in ")


def test_given_a_quick_batch_when_mapped_then_no_progress_line_is_recorded(ollama: OllamaStandin, sql) -> None:
    open_llm().map(lambda n: f"item {n}", range(3))

    assert sql("SELECT count(*) FROM cntl_af.cntl_prcs_progress")[0][0] == 0


def test_given_an_unknown_model_when_called_then_the_error_names_llf_llm_model(ollama: OllamaStandin) -> None:
    with pytest.raises(ConfigurationError, match="LLF_LLM_MODEL"):
        open_llm(model="no-such-model").complete("x")


def test_given_an_unreachable_host_when_called_then_the_error_names_ollama_host(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("LLF_LLM_ATTEMPTS", "2")

    with pytest.raises(LlmUnavailableError, match="OLLAMA_HOST"):
        open_llm().complete("x")


@pytest.mark.parametrize("provider", ["ollama", "openai"])
def test_given_an_unreachable_host_with_a_password_when_called_then_the_error_hides_it(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://llf:pw-in-host@127.0.0.1:9")
    monkeypatch.setenv("LLF_OPENAI_BASE_URL", "http://llf:pw-in-host@127.0.0.1:9/v1")
    monkeypatch.setenv("LLF_LLM_ATTEMPTS", "1")

    with pytest.raises(LlmUnavailableError) as raised:
        open_llm(provider=provider).complete("x")

    assert "127.0.0.1:9" in str(raised.value) and "pw-in-host" not in str(raised.value)


def test_given_an_unknown_provider_when_opened_then_the_error_names_llf_llm_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLF_LLM_PROVIDER", "hal9000")

    with pytest.raises(ConfigurationError, match="LLF_LLM_PROVIDER"):
        open_llm()


def test_given_a_failing_hook_when_called_then_the_call_succeeds_and_the_failure_is_logged(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LLF_LLM_HOOKS", "logging,tests.services.test_llm:ExplodingHook")

    with caplog.at_level(logging.INFO, logger="llf.llm"):
        assert open_llm().complete("hi") == "echo: hi"

    assert "ExplodingHook.before failed" in caplog.text
    assert "ExplodingHook.after failed" in caplog.text
    assert "llm chat ollama/llama3.2" in caplog.text


def test_given_the_persistence_hook_when_called_then_request_and_reply_land_in_the_lake(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLF_LLM_HOOKS", "persistence")
    monkeypatch.setenv("LLF_LAKE_URL", (tmp_path / "lake").as_uri())

    open_llm().complete("keep me")

    (record,) = (tmp_path / "lake" / "llm" / "interactive").rglob("*.json")
    assert json.loads(record.read_text())["result"] == "echo: keep me"


def test_given_an_unknown_hook_when_opened_then_the_error_names_llf_llm_hooks(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLF_LLM_HOOKS", "telepathy")

    with pytest.raises(ConfigurationError, match="LLF_LLM_HOOKS"):
        open_llm()


def test_given_the_openai_provider_when_called_then_chat_schema_and_embed_work(ollama: OllamaStandin) -> None:
    ollama.behaviour.reply_with("plain", '{"label": "negative", "score": 0.1}')
    llm = open_llm(provider="openai")

    assert llm.complete("hi") == "plain"
    assert llm.complete("bad", schema=Sentiment) == Sentiment(label="negative", score=0.1)
    assert llm.embed(["red shoes"])[0] == pytest.approx(embed_text("red shoes"))
    sent = ollama.behaviour.calls_to("/v1/chat/completions")[1]
    assert sent["response_format"]["json_schema"]["schema"] == Sentiment.model_json_schema()


def test_given_the_openai_provider_and_a_429_when_called_then_it_is_retried(ollama: OllamaStandin) -> None:
    ollama.behaviour.fail_next(1, status=429)

    assert open_llm(provider="openai").complete("hi") == "echo: hi"
    assert len(ollama.behaviour.calls_to("/v1/chat/completions")) == 2


def test_given_a_hook_with_failed_when_the_call_fails_then_it_sees_the_error_and_the_error_still_raises(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLF_LLM_HOOKS", "tests.services.test_llm:RecordingHook")
    ollama.behaviour.fail_next(1, status=400)
    client = open_llm()

    with pytest.raises(Exception, match="400|scripted failure"):
        client.complete("hi")

    (hook,) = client.hooks
    assert [stage for stage, _ in hook.seen] == ["before", "failed"]
    assert "scripted failure" in str(hook.seen[-1][1])


SENTIMENTS = ["positive", "negative", "neutral"]


def test_given_ollama_when_classifying_then_it_falls_back_to_structured_output_with_the_labels_as_an_enum(
    ollama: OllamaStandin,
) -> None:
    ollama.behaviour.reply_with('{"label": "negative", "confidence": 0.8}')

    result = open_llm().classify(
        "it broke at once", SENTIMENTS, examples=[("what a lovely day", "positive")], template="Text: {text}",
        orders=3,  # scoring only: one structured answer is asked whatever the orders
    )

    assert (result.label, result.method, result.probabilities) == ("negative", "structured", None)
    assert result.confidence == pytest.approx(0.8)
    (sent,) = ollama.behaviour.calls_to("/api/chat")
    assert sent["format"]["properties"]["label"]["enum"] == SENTIMENTS
    assert sent["messages"] == [
        {"role": "system", "content": "Classify the text as one of: positive, negative, neutral."},
        {"role": "user", "content": "Text: what a lovely day"},
        {"role": "assistant", "content": "positive"},
        {"role": "user", "content": "Text: it broke at once"},
    ]


def test_given_a_label_off_the_enum_when_classifying_on_ollama_then_it_is_reasked(ollama: OllamaStandin) -> None:
    ollama.behaviour.reply_with('{"label": "mixed", "confidence": 0.5}', '{"label": "neutral", "confidence": 0.6}')

    assert open_llm().classify("so-so", SENTIMENTS).label == "neutral"

    first, second = ollama.behaviour.calls_to("/api/chat")
    assert "mixed" in second["messages"][-1]["content"] and second["format"] == first["format"]


def test_given_the_same_classification_twice_when_cached_then_labels_are_part_of_the_key(
    ollama: OllamaStandin, sql
) -> None:
    ollama.behaviour.responder = lambda request: '{"label": "positive", "confidence": 0.9}'
    llm = open_llm()

    first = llm.classify("nice", SENTIMENTS)
    again = open_llm().classify("nice", SENTIMENTS)
    llm.classify("nice", ["positive", "negative"])

    assert first == again
    assert len(ollama.behaviour.calls_to("/api/chat")) == 2
    assert [(row[0], row[4]) for row in usage_rows(sql)] == [("chat", False), ("chat", True), ("chat", False)]


def test_given_many_texts_when_classified_then_results_keep_order_and_concurrency_is_bounded(
    ollama: OllamaStandin,
) -> None:
    ollama.behaviour.latency_s = 0.05
    ollama.behaviour.responder = lambda request: json.dumps(
        {"label": request["messages"][-1]["content"], "confidence": 0.7})
    texts = ["yes", "no"] * 4

    results = open_llm().classify_many(texts, ["yes", "no"], concurrency=3)

    assert [result.label for result in results] == texts
    assert ollama.behaviour.max_in_flight == 3


def test_given_the_openai_provider_when_classifying_then_the_enum_goes_in_the_response_format(
    ollama: OllamaStandin,
) -> None:
    ollama.behaviour.reply_with('{"label": "neutral", "confidence": 0.4}')

    result = open_llm(provider="openai").classify("the sky is blue", SENTIMENTS)

    assert (result.label, result.method) == ("neutral", "structured")
    (sent,) = ollama.behaviour.calls_to("/v1/chat/completions")
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] == SENTIMENTS


@pytest.mark.parametrize(
    ("labels", "examples"),
    [(["only"], []), (["a", "a"], []), (["a", " "], []), (["a", "b"], [("text", "c")])],
)
def test_given_labels_that_leave_no_choice_when_classifying_then_nothing_is_sent(
    ollama: OllamaStandin, labels: list[str], examples: list[tuple[str, str]]
) -> None:
    with pytest.raises(ValueError, match="label"):
        open_llm().classify("x", labels, examples=examples)
    assert ollama.behaviour.calls == []


def test_given_label_scores_and_a_bias_when_chosen_by_likelihood_then_the_bias_is_taken_out() -> None:
    logprobs = {"yes": -0.4, "no": -1.1}

    raw = by_likelihood(logprobs, {})
    calibrated = by_likelihood(logprobs, {"yes": -0.1, "no": -2.4})  # the prompt alone favours "yes"

    assert (raw.label, calibrated.label) == ("yes", "no")
    assert math.isclose(math.fsum(calibrated.probabilities.values()), 1.0, rel_tol=1e-9)
    assert calibrated.confidence == pytest.approx(calibrated.probabilities["no"])
    assert raw.confidence == pytest.approx(1 / (1 + math.exp(-0.7)))



def test_given_examples_when_ordered_then_as_given_rotated_by_half_and_reversed_without_repeats() -> None:
    examples = [("a", "x"), ("b", "y"), ("c", "x"), ("d", "y")]

    assert example_orders(examples, 3) == [examples, examples[2:] + examples[:2], examples[::-1]]
    assert example_orders(examples, 1) == [examples]
    assert example_orders([], 3) == [[]]
    with pytest.raises(ValueError, match="orders"):
        example_orders(examples, 4)


class RecordingHook:
    """Remembers which stages ran and the error `failed` was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    def before(self, call) -> None:
        self.seen.append(("before", None))

    def after(self, call) -> None:
        self.seen.append(("after", None))

    def failed(self, call) -> None:
        self.seen.append(("failed", call.error))


class ExplodingHook:
    """A hook that always fails, to show hook failures never fail the call."""

    def before(self, call) -> None:
        raise RuntimeError("boom")

    def after(self, call) -> None:
        raise RuntimeError("boom")
