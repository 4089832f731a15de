"""The llm_question example: LLM hooks record each question's answer, or its error, in a results table."""

from __future__ import annotations

import pytest

from tests.examples.conftest import log_rows

pytestmark = pytest.mark.examples

STREAM = "llm_question"
ANSWERS = "SELECT prcs_nm, question, status, answer, error FROM llf_results.llm_answers ORDER BY answer_id"


def test_given_a_reachable_llm_when_the_stream_runs_then_each_answer_is_in_the_results_table(
    example_stream, sql
):
    processes = example_stream(STREAM)

    assert processes == ["lq_ask_airflow", "lq_ask_rag"]
    assert {name: status for name, (status, _) in log_rows(sql, STREAM).items()} == dict.fromkeys(
        processes, "SUCCESS")
    rows = sql(ANSWERS)
    assert [(r[0], r[2], r[4]) for r in rows] == [
        ("lq_ask_airflow", "ANSWERED", None), ("lq_ask_rag", "ANSWERED", None)]
    assert rows[0][1] == "In one sentence, what does Apache Airflow do?"
    assert rows[0][3] == "(stand-in model) A short answer to: In one sentence, what does Apache Airflow do?"


def test_given_a_failing_llm_when_asked_then_the_error_is_in_the_results_table_and_the_run_failed(
    example_stream, example_llm, sql, monkeypatch
):
    monkeypatch.setenv("LLF_LLM_ATTEMPTS", "2")
    example_llm.behaviour.fail_next(4, status=500)  # both attempts of both questions

    example_stream(STREAM)

    assert [(r[0], r[2]) for r in sql(ANSWERS)] == [("lq_ask_airflow", "FAILED"), ("lq_ask_rag", "FAILED")]
    assert "LlmUnavailableError" in sql(ANSWERS)[0][4] and "OLLAMA_HOST" in sql(ANSWERS)[0][4]
    status, message = log_rows(sql, STREAM)["lq_ask_airflow"]
    assert status == "FAILED" and "LlmUnavailableError" in message
