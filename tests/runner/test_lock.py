"""The run lock as PostgreSQL shows it: 64-bit keys in pg_locks, the sweeps that read them, the watchdog."""

from __future__ import annotations

import datetime as dt
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from llf.control import log as run_log
from llf.control.lock import lock_key_sql, process_run_lock
from llf.exceptions import ConfigurationError, ProcessFailed
from llf.runner.tasks import run_process
from llf.settings import lock_check_seconds
from tests.runner.conftest import BUSINESS_DATE, run_context
from tests.support.notebooks import write_notebook

# Enough names that their keys cover both signs of the bigint and both halves with their top bit set
# (pg_locks shows the halves as unsigned oids): the precondition below checks it.
NAMES = [f"process_{index}" for index in range(24)]
LOST_TIMEOUT = 20


def _statuses(sql) -> dict[tuple[str, dt.date], str]:
    rows = sql("SELECT prcs_nm, business_date, status FROM cntl_af.cntl_cfg_log ORDER BY log_id")
    return {(name, day): status for name, day, status in rows}


def _wait_until_released(sql, timeout: float = 10.0) -> None:
    """Closing a session returns before its backend has exited and dropped its locks: wait for pg_locks."""
    deadline = time.monotonic() + timeout
    while sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
              "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")[0][0]:
        assert time.monotonic() < deadline, "advisory locks still held after their sessions closed"
        time.sleep(0.05)


def _key(sql, prcs_nm: str, day: dt.date) -> int:
    return sql(f"SELECT {lock_key_sql('%s', '%s')}", (prcs_nm, day))[0][0]


def test_given_locks_held_when_the_sweep_runs_then_their_rows_stay_running_and_once_released_they_are_failed(
    control_db_url, sql
):
    keys = [_key(sql, name, BUSINESS_DATE) for name in NAMES]
    assert min(keys) < 0 < max(keys) and any(key & 0x8000_0000 for key in keys)  # the cases worth covering
    for name in NAMES:
        run_log.mark_running(control_db_url, run_context(name))

    with ExitStack() as held:
        for name in NAMES:
            held.enter_context(process_run_lock(control_db_url, name, BUSINESS_DATE))
        closed_while_held = run_log.mark_abandoned_attempts_failed(control_db_url)
        statuses_while_held = set(_statuses(sql).values())
    _wait_until_released(sql)
    closed_once_released = run_log.mark_abandoned_attempts_failed(control_db_url)

    assert (closed_while_held, statuses_while_held) == (0, {"RUNNING"})
    assert closed_once_released == len(NAMES)
    assert set(_statuses(sql).values()) == {"FAILED"}


def test_given_the_same_process_and_date_locked_in_another_database_when_the_sweep_runs_then_the_row_is_failed(
    control_db_url, sql, postgres
):
    """Advisory locks are per database but pg_locks lists the whole server's: the sweep filters on database."""
    run_log.mark_running(control_db_url, run_context("p"))
    other_database = postgres.fresh_database()

    with process_run_lock(other_database, "p", BUSINESS_DATE):
        closed = run_log.mark_abandoned_attempts_failed(control_db_url)

    assert closed == 1
    assert _statuses(sql) == {("p", BUSINESS_DATE): "FAILED"}


def test_given_the_lock_of_a_process_and_date_when_its_holder_closes_stale_attempts_then_only_those_rows_fail(
    control_db_url, sql
):
    next_day = BUSINESS_DATE + dt.timedelta(days=1)
    for name, day in (("p", BUSINESS_DATE), ("p", next_day), ("q", BUSINESS_DATE)):
        run_log.mark_running(control_db_url, run_context(name, business_date=day))

    with process_run_lock(control_db_url, "p", BUSINESS_DATE):
        swept = run_log.mark_abandoned_attempts_failed(control_db_url)
        closed = run_log.mark_stale_attempts_failed(control_db_url, "p", BUSINESS_DATE)

    assert (swept, closed) == (2, 1)  # the others have no lock: the global sweep takes them
    assert _statuses(sql)[("p", BUSINESS_DATE)] == "FAILED"
    message = sql("SELECT message FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p' AND business_date = %s",
                  (BUSINESS_DATE,))[0][0]
    assert message.startswith("attempt abandoned")


def test_given_a_held_lock_when_its_session_is_terminated_then_the_watchdog_reports_it_lost(
    control_db_url, sql, monkeypatch
):
    monkeypatch.setenv("LLF_LOCK_CHECK_SECONDS", "0.2")
    reported = threading.Event()
    reasons: list[str] = []

    with process_run_lock(control_db_url, "p", BUSINESS_DATE) as lock:
        lock.on_lost(lambda reason: (reasons.append(reason), reported.set()))
        held_before = lock.check()
        sql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        reported.wait(LOST_TIMEOUT)

    assert held_before is None
    assert reasons and reasons[0] == lock.lost
    assert lock.lost.startswith("its database session failed")


def test_given_a_row_closed_by_another_session_when_the_attempt_ends_then_it_is_not_overwritten_and_the_run_fails(
    registry, stream, notebooks_dir, sql, control_db_url, monkeypatch
):
    """What a sweep does to an attempt whose lock was lost: the attempt's own SUCCESS must not replace it."""
    write_notebook_closing_its_row(notebooks_dir / "closed.ipynb")
    # the sweep's rights (the notebook role has no UPDATE), as a parameter: the kernel gets no other variable
    registry.process(stream["group"], "p", notebook="closed.ipynb", params={"sweep_db_url": control_db_url})

    with pytest.raises(ProcessFailed, match=r"already closed FAILED .*closed by a sweep.*ended SUCCESS"):
        run_process(run_context("p"))

    assert sql("SELECT status, message FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'") == [
        ("FAILED", "closed by a sweep")]
    # the sweep ran before the notebook was stored (it dropped the empty location); the attempt's link is added
    (output_path,) = sql("SELECT output_path FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'")[0]
    assert output_path is not None and output_path.startswith("file://")
    assert (Path(unquote(urlsplit(output_path).path)) / "p.ipynb").is_file()


def write_notebook_closing_its_row(path) -> None:
    write_notebook(
        path,
        "import psycopg2\n"
        "with psycopg2.connect(sweep_db_url) as db, db.cursor() as cursor:\n"
        "    cursor.execute(\"UPDATE cntl_af.cntl_cfg_log SET status = 'FAILED', message = 'closed by a sweep', \"\n"
        "                   \"end_ts = now(), output_path = NULL \"\n"
        "                   \"WHERE prcs_nm = %s AND status = 'RUNNING'\", (prcs_nm,))",
        parameters="prcs_nm = ''\nsweep_db_url = ''",
    )


@pytest.mark.parametrize("raw", ["0", "-1", "soon"])
def test_given_a_lock_check_interval_that_is_not_a_positive_number_when_read_then_the_setting_is_named(
    monkeypatch, raw
):
    monkeypatch.setenv("LLF_LOCK_CHECK_SECONDS", raw)

    with pytest.raises(ConfigurationError, match="LLF_LOCK_CHECK_SECONDS"):
        lock_check_seconds()


def test_given_the_lock_free_then_nothing_runs_before_it_is_granted_and_given_it_taken_then_the_wait_is_announced(
    control_db_url,
):
    announced: list[str] = []

    with process_run_lock(control_db_url, "p", BUSINESS_DATE, before_waiting=lambda: announced.append("free")):
        pass
    assert announced == []

    holder_in, release = threading.Event(), threading.Event()

    def hold() -> None:
        with process_run_lock(control_db_url, "p", BUSINESS_DATE):
            holder_in.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holder_in.wait(30)
    threading.Timer(1.0, release.set).start()  # the waiter below is granted the lock once the holder lets go
    with process_run_lock(control_db_url, "p", BUSINESS_DATE, before_waiting=lambda: announced.append("taken")):
        assert release.is_set()
    holder.join(30)
    assert announced == ["taken"]
