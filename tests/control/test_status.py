"""`llf status`: the latest status per process, with tokens and messages, in a table."""

from __future__ import annotations

import datetime as dt

from llf.cli import main
from llf.control import log as run_log
from llf.control.status import latest_statuses
from llf.runner.context import RunContext

DAY = dt.date(2026, 5, 1)


def _context(prcs_nm: str, day: dt.date = DAY) -> RunContext:
    return RunContext(strem_nm="s", prcs_nm=prcs_nm, business_date=day, run_id=f"r-{prcs_nm}-{day}")


def test_given_attempts_when_status_is_read_then_each_process_shows_its_newest_attempt(control_db_url, registry, sql):
    group = registry.group(registry.stream("s"), "g")
    for name in ("done", "broken", "idle"):
        registry.process(group, name)
    run_log.mark_failed(control_db_url, _context("done"), "first try failed")
    run_log.mark_success(control_db_url, _context("done"), "ok")
    running = run_log.mark_running(control_db_url, _context("broken"))
    run_log.mark_failed(control_db_url, _context("broken").model_copy(update={"log_id": running}), "ValueError: x")
    sql("INSERT INTO cntl_af.cntl_llm_usage (log_id, prcs_nm, business_date, run_id, provider_nm, model_nm, "
        "operation_nm, prompt_tokens, completion_tokens) VALUES (%s, 'broken', %s, 'r', 'ollama', 'm', 'chat', 7, 5)",
        (running, DAY))

    rows = {row.prcs_nm: row for row in latest_statuses(control_db_url)}

    assert rows["done"].status == "SUCCESS"
    assert rows["broken"].status == "FAILED" and rows["broken"].tokens == 12
    assert rows["broken"].duration is not None
    assert rows["idle"].status is None


def test_given_a_date_and_stream_filter_when_status_is_read_then_only_matching_attempts_count(
    control_db_url, registry
):
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    registry.process(registry.group(registry.stream("other"), "g"), "q")
    run_log.mark_success(control_db_url, _context("p", DAY), "ok")
    run_log.mark_failed(control_db_url, _context("p", DAY + dt.timedelta(days=1)), "later failure")

    (row,) = latest_statuses(control_db_url, stream="s", business_date=DAY)

    assert (row.prcs_nm, row.status) == ("p", "SUCCESS")


def test_given_a_failed_process_when_llf_status_runs_then_the_table_shows_it_and_exit_is_one(
    control_db_url, registry, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: rich folds long cells on narrow ones
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    run_log.mark_failed(control_db_url, _context("p"), "ValueError: bad row")

    code = main(["status", "--stream", "s", "--date", str(DAY)])

    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED" in out and "ValueError: bad row" in out


def test_given_a_running_row_without_its_worker_when_llf_status_runs_then_it_shows_failed_abandoned(
    control_db_url, registry, capsys
):
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    run_log.mark_running(control_db_url, _context("p"))  # no lock held: its worker is gone

    main(["status"])

    assert "abandoned" in capsys.readouterr().out
