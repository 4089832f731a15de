"""The notebook SDK: run context from LLF_RUN_CONTEXT, progress lines in the control DB, service accessors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from llf import notebook as nb
from llf.context import RunContext
from llf.exceptions import ConfigurationError

RUN = RunContext(strem_nm="s1", prcs_nm="p1", business_date="2024-01-31", run_id="manual__1", params={"k": 3})


def test_given_no_run_context_when_asked_then_an_interactive_context_for_today(monkeypatch) -> None:
    monkeypatch.delenv("LLF_RUN_CONTEXT", raising=False)

    context = nb.context()

    assert (context.prcs_nm, context.run_id, context.business_date) == (
        "interactive",
        "interactive",
        dt.date.today(),
    )


def test_given_a_run_context_when_asked_then_the_runner_values_come_back(monkeypatch) -> None:
    monkeypatch.setenv("LLF_RUN_CONTEXT", RUN.model_dump_json())

    assert nb.context() == RUN


def test_given_a_broken_run_context_when_asked_then_the_error_names_llf_run_context(monkeypatch) -> None:
    monkeypatch.setenv("LLF_RUN_CONTEXT", "{not json")

    with pytest.raises(ConfigurationError, match="LLF_RUN_CONTEXT"):
        nb.context()


def test_given_a_run_when_logging_then_the_line_is_printed_and_recorded_against_the_run(
    control_db_url, sql, monkeypatch, capsys
) -> None:
    (log_id,) = sql(
        "INSERT INTO cntl_af.cntl_cfg_log (strem_nm, prcs_nm, business_date, run_id, status)"
        " VALUES ('s1', 'p1', '2024-01-31', 'manual__1', 'RUNNING') RETURNING log_id"
    )[0]
    monkeypatch.setenv("LLF_RUN_CONTEXT", RUN.model_copy(update={"log_id": log_id}).model_dump_json())

    nb.log("scored 10 of 20 items")

    assert "p1: scored 10 of 20 items" in capsys.readouterr().out
    assert sql(
        "SELECT log_id, prcs_nm, business_date::text, run_id, message FROM cntl_af.cntl_prcs_progress"
    ) == [(log_id, "p1", "2024-01-31", "manual__1", "scored 10 of 20 items")]


def test_given_no_control_db_when_logging_then_it_only_prints(monkeypatch, capsys) -> None:
    monkeypatch.delenv("LLF_CONTROL_DB_URL", raising=False)
    monkeypatch.delenv("LLF_RUN_CONTEXT", raising=False)

    nb.log("hello")

    assert "interactive: hello" in capsys.readouterr().out


def test_given_an_unreachable_control_db_when_logging_then_it_is_not_fatal(monkeypatch, capsys) -> None:
    monkeypatch.setenv("LLF_CONTROL_DB_URL", "postgresql://nobody@127.0.0.1:9/none")

    nb.log("still fine")

    assert "still fine" in capsys.readouterr().out


def test_given_the_services_when_reached_through_nb_then_each_works(
    control_db_url, ollama, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLF_LAKE_URL", (tmp_path / "lake").as_uri())
    monkeypatch.delenv("LLF_VECTOR_URL", raising=False)

    nb.lake().put("notes/a.txt", "x")
    nb.vectors("notes").upsert(["a note about shoes"])

    assert nb.lake().list("notes/") == ["notes/a.txt"]
    assert nb.vectors("notes").search("shoes", k=1)[0].text == "a note about shoes"
    assert nb.llm().complete("hi") == "echo: hi"


def test_given_a_control_db_when_nb_sql_runs_then_rows_come_back_and_values_stay_parameters(control_db_url) -> None:
    nb.sql("CREATE SCHEMA IF NOT EXISTS llf_results")
    nb.sql("CREATE TABLE llf_results.answers (question text, answer text)")
    nb.sql("INSERT INTO llf_results.answers VALUES (%s, %s)", ("why'; DROP TABLE x; --", "42"))

    assert nb.sql("SELECT question, answer FROM llf_results.answers") == [("why'; DROP TABLE x; --", "42")]


def test_given_no_control_db_when_nb_sql_runs_then_the_error_names_the_setting(monkeypatch) -> None:
    monkeypatch.delenv("LLF_CONTROL_DB_URL", raising=False)

    with pytest.raises(ConfigurationError, match="LLF_CONTROL_DB_URL"):
        nb.sql("SELECT 1")
