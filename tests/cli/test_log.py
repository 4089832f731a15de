"""`llf log`: a process's attempts from the real run log, newest first, as a table or JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from llf.cli import main
from llf.context import RunContext
from llf.control import log as run_log
from llf.settings import PROJECT_ROOT

DAY = dt.date(2026, 5, 1)


def _context(prcs_nm: str, day: dt.date, try_number: int = 1) -> RunContext:
    return RunContext(strem_nm="s", prcs_nm=prcs_nm, business_date=day, run_id=f"r-{day}-{try_number}",
                      try_number=try_number, output_path=f"file:///lake/runs/s/{prcs_nm}/{day}/r")


def _history(url: str) -> None:
    """p: FAILED on DAY (try 1, a two-line message), SUCCESS on DAY (try 2), RUNNING on DAY+1; q: SUCCESS."""
    first = run_log.mark_running(url, _context("p", DAY))
    run_log.mark_failed(url, _context("p", DAY).model_copy(update={"log_id": first}),
                        "ValueError: no rows\n(cell 4, index 3) [/x]", output_path="file:///lake/failed")
    run_log.mark_success(url, _context("p", DAY, try_number=2), "ok", output_path="file:///lake/ok")
    run_log.mark_running(url, _context("p", DAY + dt.timedelta(days=1)))
    run_log.mark_success(url, _context("q", DAY), "other process")


def test_given_attempts_when_log_is_asked_as_json_then_they_come_newest_first_with_iso_dates(
    control_db_url, registry, capsys
):
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    _history(control_db_url)

    code = main(["log", "--process", "p", "--json"])

    rows = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(row["business_date"], row["try_number"], row["status"]) for row in rows] == [
        ("2026-05-02", 1, "RUNNING"), ("2026-05-01", 2, "SUCCESS"), ("2026-05-01", 1, "FAILED")]
    failed = rows[2]
    assert failed["message"] == "ValueError: no rows\n(cell 4, index 3) [/x]"
    assert failed["output_path"] == "file:///lake/failed"
    assert dt.datetime.fromisoformat(failed["start_ts"]) <= dt.datetime.fromisoformat(failed["end_ts"])
    assert failed["duration_s"] >= 0 and rows[0]["duration_s"] is None and rows[0]["end_ts"] is None
    assert {row["prcs_nm"] for row in rows} == {"p"}


def test_given_attempts_when_log_is_asked_for_the_last_two_then_a_table_shows_the_two_newest_one_line_each(
    control_db_url, registry, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    _history(control_db_url)

    code = main(["log", "--process", "p", "--last", "2"])

    out = capsys.readouterr().out
    assert code == 0
    assert "llf log for p" in out
    assert "RUNNING" in out and "SUCCESS" in out and "FAILED" not in out
    assert "file:///lake/ok" in out and "2026-05-02" in out


def test_given_a_failed_attempt_when_log_shows_it_then_its_message_is_one_line_and_printed_as_written(
    control_db_url, registry, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    _history(control_db_url)

    main(["log", "--process", "p"])

    out = capsys.readouterr().out
    assert "ValueError: no rows (cell 4, index 3) [/x]" in out


def test_given_a_registered_process_that_never_ran_when_log_is_asked_then_it_says_so_and_exits_0(
    control_db_url, registry, capsys
):
    registry.process(registry.group(registry.stream("s"), "g"), "idle")

    assert main(["log", "--process", "idle"]) == 0
    assert "idle has no attempt" in capsys.readouterr().out
    assert main(["log", "--process", "idle", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_given_an_unknown_process_when_log_is_asked_then_exit_2_with_one_line_naming_it(control_db_url, capsys):
    code = main(["log", "--process", "nope"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith("error: --process nope: no process of that name")
    assert len(captured.err.strip().splitlines()) == 1


def test_given_a_process_with_more_attempts_than_a_page_when_log_asks_for_all_then_every_attempt_comes(
    control_db_url, sql, capsys
):
    sql("INSERT INTO cntl_af.cntl_cfg_log (strem_nm, prcs_nm, business_date, run_id, status, message, end_ts) "
        "SELECT 's', 'busy', DATE '2026-01-01' + n, 'r' || n, 'SUCCESS', 'ok', now() FROM generate_series(1, 620) n")

    assert main(["log", "--process", "busy", "--last", "1000", "--json"]) == 0

    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 620 and rows[0]["business_date"] == str(dt.date(2026, 1, 1) + dt.timedelta(days=620))


def test_given_a_last_that_is_not_positive_when_log_parses_it_then_it_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["log", "--process", "p", "--last", "0"])

    assert exit_.value.code == 2
    assert "0 is not a whole number >= 1" in capsys.readouterr().err


def test_given_output_to_a_pipe_when_log_prints_its_table_then_a_long_message_stays_on_one_line(
    control_db_url, registry
):
    """A table written to a log (CI, `make demo > demo.log`) is read there: rich's 80-column default for a
    non-terminal would wrap every cell onto several lines."""
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    message = "KeyError: 'customer_segment' while joining the orders of the day with the customer master data"
    run_log.mark_failed(control_db_url, _context("p", DAY), message, output_path="file:///lake/runs/s/p/r")
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}

    done = subprocess.run([sys.executable, "-m", "llf.cli", "log", "--process", "p"], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert message in done.stdout
    assert any(message in line and "file:///lake/runs/s/p/r" in line for line in done.stdout.splitlines())
