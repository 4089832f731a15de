"""`llf status`: the latest status per process, with tokens and messages, in a table."""

from __future__ import annotations

import datetime as dt

import pytest

from llf.cli import main
from llf.context import RunContext
from llf.control import log as run_log
from llf.control.status import latest_statuses

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
    assert rows["broken"].status == "FAILED" and rows["broken"].latest.tokens == 12
    assert rows["broken"].latest.duration is not None
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


def test_given_a_success_then_a_later_run_skipping_it_when_status_is_read_then_the_success_decides(
    control_db_url, registry
):
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    run_log.mark_success(control_db_url, _context("p"), "ok")
    again = _context("p").model_copy(update={"run_id": "manual-second"})
    run_log.mark_skipped(control_db_url, again, "already SUCCESS for 2026-05-01")

    (row,) = latest_statuses(control_db_url, business_date=DAY)

    assert (row.status, row.latest.message) == ("SUCCESS", "ok")


def test_given_only_skipped_attempts_when_status_is_read_then_skipped_shows(control_db_url, registry):
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    run_log.mark_skipped(control_db_url, _context("p"), "stream stopped by an earlier failure")

    (row,) = latest_statuses(control_db_url)

    assert row.status == "SKIPPED"


def test_given_attempts_on_two_dates_when_status_is_read_without_a_date_then_the_latest_date_shows(
    control_db_url, registry
):
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    run_log.mark_failed(control_db_url, _context("p", DAY + dt.timedelta(days=1)), "later date failed")
    run_log.mark_success(control_db_url, _context("p", DAY), "backfilled earlier date")

    (row,) = latest_statuses(control_db_url)

    assert (row.latest.business_date, row.status) == (DAY + dt.timedelta(days=1), "FAILED")


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


def test_given_a_dependency_run_for_another_streams_run_when_llf_status_runs_then_it_says_who_asked(
    control_db_url, registry, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")
    registry.process(registry.group(registry.stream("t"), "g"), "dep")
    asked = RunContext(strem_nm="t", prcs_nm="dep", business_date=DAY, run_id="r-dep", triggered_by="dependency",
                       rqst_strem_nm="s", rqst_strem_run_id="scheduled__2026-05-01")
    run_log.mark_success(control_db_url, asked, "notebook ran to completion")

    (row,) = latest_statuses(control_db_url, stream="t", business_date=DAY)
    main(["status", "--stream", "t", "--date", str(DAY)])

    assert (row.latest.rqst_strem_nm, row.latest.rqst_strem_run_id) == ("s", "scheduled__2026-05-01")
    assert "asked by stream s (run scheduled__2026-05-01): notebook ran to completion" in capsys.readouterr().out


def test_given_a_running_row_without_its_worker_when_llf_status_runs_then_it_shows_failed_abandoned(
    control_db_url, registry, capsys
):
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    run_log.mark_running(control_db_url, _context("p"))  # no lock held: its worker is gone

    main(["status"])

    assert "abandoned" in capsys.readouterr().out


def test_given_a_message_with_rich_markup_when_llf_status_runs_then_it_prints_as_written(
    control_db_url, registry, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: rich folds long cells on narrow ones
    registry.process(registry.group(registry.stream("s"), "g"), "p")  # names are checked; messages are free
    message = "FileNotFoundError: [/data/in.csv] missing; [red]not a style[/red] \\[kept]"
    run_log.mark_failed(control_db_url, _context("p"), message)

    code = main(["status", "--stream", "s"])

    out = capsys.readouterr().out
    assert code == 1
    assert message in out


def test_given_an_impossible_date_when_llf_status_runs_then_a_usage_error_names_the_format(
    control_db_url, capsys
):
    for bad in ("2026-13-01", "2026-02-30", "tomorrow", "2026-2-3", "20260201"):
        with pytest.raises(SystemExit) as exited:
            main(["status", "--date", bad])

        err = capsys.readouterr().err
        assert exited.value.code == 2
        assert f"{bad} is not a date (YYYY-MM-DD)" in err and "Traceback" not in err


def test_given_a_stream_name_nobody_registered_when_llf_status_runs_then_exit_two_says_so(
    control_db_url, registry, capsys
):
    registry.process(registry.group(registry.stream("s"), "g"), "p")

    code = main(["status", "--stream", "nosuch"])

    captured = capsys.readouterr()
    assert code == 2
    assert "--stream nosuch: no stream of that name is registered" in captured.err
    assert captured.out == ""


def test_given_a_registered_stream_with_nothing_active_when_llf_status_runs_then_an_empty_table_and_exit_zero(
    control_db_url, registry, sql, capsys
):
    registry.process(registry.group(registry.stream("quiet"), "g"), "p")
    sql("UPDATE cntl_af.cntl_cfg_strem SET actv_flg = false WHERE strem_nm = 'quiet'")

    code = main(["status", "--stream", "quiet"])

    captured = capsys.readouterr()
    assert code == 0 and "llf status" in captured.out and captured.err == ""


def test_given_a_progress_line_with_rich_markup_when_the_demo_shows_progress_then_it_prints_as_written():
    from rich.console import Console

    from llf.control.model import LogEntry
    from llf.control.status import ProcessStatus
    from llf.local.demo import _progress_table

    line = "scored [/x] 3 of [b]9[/b]"
    attempt = LogEntry(log_id=1, strem_nm="s", prcs_nm="p", business_date=DAY, run_id="r", dag_id="stream__s",
                       status="RUNNING", message=line, start_ts=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    running = ProcessStatus("s", "g", "p", attempt)
    console = Console(width=200, record=True, color_system=None)

    console.print(_progress_table({"s": "running"}, [running]))

    assert f"p: {line}" in console.export_text()


@pytest.mark.parametrize(("elapsed", "shown"), [
    (0.94, "0.9s"), (dt.timedelta(seconds=1.26), "1.3s"), (9.96, "10s"), (12.4, "12s"), (185, "3m05s"),
    (dt.timedelta(hours=2, minutes=4, seconds=10), "2h04m"), (None, ""),
])
def test_given_an_attempts_duration_then_it_is_shown_in_tenths_below_ten_seconds_else_whole_units(elapsed, shown):
    from llf.text import format_duration

    assert format_duration(elapsed) == shown
