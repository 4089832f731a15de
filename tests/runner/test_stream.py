"""The stream-level log row: opened by whichever process task comes first, closed by the last one to end,
or by the sweep when its run ended without closing it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from psycopg2.extensions import make_dsn

from llf.context import StreamRunKey
from llf.control import log as run_log
from llf.control.lock import process_run_lock
from llf.runner.stream import finish_stream, open_stream_run
from llf.runner.tasks import (
    close_stream_runs_airflow_finished,
    finish_stream_if_open,
    mark_stale_stream_runs_finished,
    run_process,
)
from tests.runner.conftest import BUSINESS_DATE, last_message, run_context, statuses
from tests.support.registry import sql_runner


def run_of(strem_nm: str, run_id: str) -> StreamRunKey:
    return StreamRunKey(strem_nm, run_id, BUSINESS_DATE)


def stream_rows(sql, strem_nm: str) -> list[tuple[str, str, bool]]:
    return sql("SELECT run_id, status, end_ts IS NULL FROM cntl_af.cntl_cfg_log "
               "WHERE strem_nm = %s AND prcs_nm IS NULL ORDER BY log_id", (strem_nm,))


def test_given_process_tasks_starting_together_when_they_open_the_stream_run_then_one_row_is_opened(
    stream, sql, control_db_url
):
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: open_stream_run(control_db_url, run_of("s", "run-1"), []), range(12)))

    assert stream_rows(sql, "s") == [("run-1", "RUNNING", True)]


def test_given_a_cleared_stream_run_when_a_task_runs_again_then_its_row_reopens_and_finish_closes_it(
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p1", notebook="ok.ipynb")
    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1"])
    run_log.mark_success(control_db_url, run_context("p1", run_id="run-1", strem_run_id="run-1"), "ok")
    finish_stream(control_db_url, run_of("s", "run-1"))
    assert stream_rows(sql, "s") == [("run-1", "SUCCESS", False)]

    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1"])
    assert stream_rows(sql, "s") == [("run-1", "RUNNING", True)]
    finish_stream(control_db_url, run_of("s", "run-1"))
    assert stream_rows(sql, "s") == [("run-1", "SUCCESS", False)]


def test_given_two_streams_sharing_a_scheduled_run_id_when_one_finishes_then_only_its_processes_count(
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p1", notebook="ok.ipynb")
    other = registry.stream("other")
    registry.process(registry.group(other, "other_g"), "q1", notebook="ok.ipynb")
    run_id = "scheduled__2026-03-14T06:30:00+00:00"  # same cron, same instant: same run id
    for strem_nm in ("s", "other"):
        open_stream_run(control_db_url, run_of(strem_nm, run_id), {"s": ["p1"], "other": ["q1"]}[strem_nm])
    run_log.mark_success(control_db_url, run_context("p1", run_id=run_id, strem_run_id=run_id), "ok")
    run_log.mark_failed(control_db_url, run_context("q1", strem_nm="other", run_id=run_id, strem_run_id=run_id),
                        "ValueError: boom")

    assert finish_stream(control_db_url, run_of("s", run_id)) is None
    assert "q1" in finish_stream(control_db_url, run_of("other", run_id))

    assert [row[1] for row in stream_rows(sql, "s")] == ["SUCCESS"]
    assert [row[1] for row in stream_rows(sql, "other")] == ["FAILED"]


def test_given_a_stream_run_when_its_last_process_ends_then_that_process_closes_the_stream_row(
    registry, stream, sql, control_db_url
):
    for name in ("p1", "p2"):
        registry.process(stream["group"], name, notebook="ok.ipynb")
    in_stream = {"run_id": "run-1", "strem_run_id": "run-1", "business_date": BUSINESS_DATE}
    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1", "p2"])

    run_process(run_context("p1", **in_stream))
    assert stream_rows(sql, "s") == [("run-1", "RUNNING", True)]  # p2 has not ended yet
    run_process(run_context("p2", **in_stream))
    closed_at = sql("SELECT end_ts FROM cntl_af.cntl_cfg_log WHERE prcs_nm IS NULL")

    assert stream_rows(sql, "s") == [("run-1", "SUCCESS", False)]
    finish_stream_if_open("s", "run-1", None)  # the DAG's success callback, later: leaves the row as it is
    assert sql("SELECT end_ts FROM cntl_af.cntl_cfg_log WHERE prcs_nm IS NULL") == closed_at


def test_given_a_stopped_stream_when_its_callback_closes_the_run_then_never_run_processes_are_skipped(
    registry, sql, control_db_url
):
    stream_id = registry.stream("strict", fail_policy="STOP")
    registry.process(registry.group(stream_id, "first", priority=1), "bad", notebook="ok.ipynb")
    registry.process(registry.group(stream_id, "second", priority=2), "later", notebook="ok.ipynb")
    open_stream_run(control_db_url, run_of("strict", "run-1"), ["bad", "later"])
    run_log.mark_failed(control_db_url, run_context("bad", strem_nm="strict", run_id="run-1", strem_run_id="run-1"),
                        "ValueError: boom")

    finish_stream_if_open("strict", "run-1", None)  # the failure callback: the date comes from the row

    assert [row[1] for row in stream_rows(sql, "strict")] == ["FAILED"]
    assert sql("SELECT message FROM cntl_af.cntl_cfg_log WHERE strem_nm = 'strict' AND prcs_nm IS NULL") == [
        ("1 process(es) failed or blocked: bad",)]
    ((status, day),) = sql("SELECT status, business_date FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'later'")
    assert (status, day) == ("SKIPPED", BUSINESS_DATE)


def test_given_a_run_whose_processes_all_died_before_the_runner_when_its_callback_runs_then_they_are_failed(
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p1", notebook="ok.ipynb")

    finish_stream_if_open("s", "run-9", BUSINESS_DATE, ["p1"])  # no row was opened: the date comes from the callback

    assert stream_rows(sql, "s") == [("run-9", "FAILED", False)]
    ((status, message),) = sql("SELECT status, message FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p1'")
    assert status == "FAILED" and "no result recorded" in message


def expected_processes(sql, strem_nm: str, run_id: str) -> list[str] | None:
    return sql("SELECT expected_prcs FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND run_id = %s "
               "AND prcs_nm IS NULL", (strem_nm, run_id))[0][0]


def test_given_a_process_registered_while_a_run_goes_when_the_expected_ones_succeed_then_the_run_closes_success(
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p1", notebook="ok.ipynb")
    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1"])
    registry.process(stream["group"], "newcomer", notebook="ok.ipynb")  # registered mid-run

    run_process(run_context("p1", run_id="run-1", strem_run_id="run-1"))
    finish_stream_if_open("s", "run-1", None)  # the DAG's success callback, later

    assert expected_processes(sql, "s", "run-1") == ["p1"]
    assert stream_rows(sql, "s") == [("run-1", "SUCCESS", False)]
    assert statuses(sql, "newcomer") == []  # not waited for, and no FAILED row to block its dependants


def test_given_a_run_whose_callback_never_ran_when_the_sweep_runs_then_its_complete_row_is_closed(
    registry, stream, sql, control_db_url
):
    for name in ("p1", "p2"):
        registry.process(stream["group"], name, notebook="ok.ipynb")
    registry.process(registry.group(registry.stream("other"), "other_g"), "q1", notebook="ok.ipynb")
    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1", "p2"])
    # Both processes ended, but the last one could not close the row (database away) and no callback came.
    for name in ("p1", "p2"):
        run_log.mark_success(control_db_url, run_context(name, run_id="run-1", strem_run_id="run-1"), "ok")
    # another stream's run, q1 still to come: left alone
    open_stream_run(control_db_url, run_of("other", "run-2"), ["q1"])

    assert mark_stale_stream_runs_finished(control_db_url) == 1

    assert stream_rows(sql, "s") == [("run-1", "SUCCESS", False)]
    assert stream_rows(sql, "other") == [("run-2", "RUNNING", True)]


def _run_1_with_p1_done(registry, stream, control_db_url) -> None:
    """Stream s with p1 and p2, its run "run-1" open, p1 already SUCCESS in it: p2's fate is the test's."""
    for name in ("p1", "p2"):
        registry.process(stream["group"], name, notebook="ok.ipynb")
    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1", "p2"])
    run_log.mark_success(control_db_url, run_context("p1", run_id="run-1", strem_run_id="run-1"), "ok")


def test_given_a_run_in_progress_when_the_sweep_runs_then_its_row_stays_open(
    registry, stream, sql, control_db_url
):
    _run_1_with_p1_done(registry, stream, control_db_url)
    with process_run_lock(control_db_url, "p2", BUSINESS_DATE):  # p2 runs: a live attempt
        run_log.mark_running(control_db_url, run_context("p2", run_id="run-1", strem_run_id="run-1"))

        assert mark_stale_stream_runs_finished(control_db_url) == 0

    assert stream_rows(sql, "s") == [("run-1", "RUNNING", True)]


def test_given_a_run_left_running_when_the_next_run_of_the_stream_opens_then_the_older_row_is_closed(
    registry, stream, sql, control_db_url
):
    _run_1_with_p1_done(registry, stream, control_db_url)
    # p2's task died before the runner started, and the run's failure callback never ran.

    open_stream_run(control_db_url, run_of("s", "run-2"), ["p1", "p2"])

    assert stream_rows(sql, "s") == [("run-1", "FAILED", False), ("run-2", "RUNNING", True)]
    assert statuses(sql, "p2") == ["FAILED"]
    assert "no result recorded" in last_message(sql, "p2")


def test_given_a_cleared_run_reopened_when_the_sweep_runs_then_its_previous_pass_does_not_close_it(
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p1", notebook="ok.ipynb")
    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1"])
    run_process(run_context("p1", run_id="run-1", strem_run_id="run-1"))

    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1"])  # cleared: its task is about to run again
    assert mark_stale_stream_runs_finished(control_db_url) == 0
    assert stream_rows(sql, "s") == [("run-1", "RUNNING", True)]

    run_process(run_context("p1", run_id="run-1", strem_run_id="run-1"))
    assert stream_rows(sql, "s") == [("run-1", "SUCCESS", False)]


def test_given_a_process_registered_before_a_run_is_cleared_when_it_reopens_then_it_waits_for_it_too(
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p1", notebook="ok.ipynb")
    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1"])
    run_process(run_context("p1", run_id="run-1", strem_run_id="run-1"))
    registry.process(stream["group"], "p2", notebook="ok.ipynb")

    # Airflow reruns a cleared run on the DAG as it is now, which has p2's task
    open_stream_run(control_db_url, run_of("s", "run-1"), ["p1", "p2"])
    run_process(run_context("p1", run_id="run-1", strem_run_id="run-1"))

    assert expected_processes(sql, "s", "run-1") == ["p1", "p2"]
    assert stream_rows(sql, "s") == [("run-1", "RUNNING", True)]  # p2's task is still to run
    run_process(run_context("p2", run_id="run-1", strem_run_id="run-1"))
    assert stream_rows(sql, "s") == [("run-1", "SUCCESS", False)]


def test_given_two_backfill_runs_going_at_once_when_the_second_opens_then_the_first_stays_open(
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p1", notebook="ok.ipynb")
    first, second = "backfill__2026-03-13T00:00:00+00:00", "backfill__2026-03-14T00:00:00+00:00"

    open_stream_run(control_db_url, run_of("s", first), ["p1"])
    open_stream_run(control_db_url, run_of("s", second), ["p1"])
    mark_stale_stream_runs_finished(control_db_url)

    assert stream_rows(sql, "s") == [(first, "RUNNING", True), (second, "RUNNING", True)]


def test_given_closers_of_one_run_at_once_when_they_close_it_then_a_process_that_never_ran_gets_one_row(
    registry, stream, sql, control_db_url
):
    _run_1_with_p1_done(registry, stream, control_db_url)

    # The DAG's callback, a sweep, a late process: each records the run's outcome, one at a time.
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: finish_stream(control_db_url, run_of("s", "run-1")), range(6)))

    assert statuses(sql, "p2") == ["FAILED"]
    assert stream_rows(sql, "s") == [("run-1", "FAILED", False)]


def test_given_a_run_airflow_finished_whose_callback_was_lost_when_swept_with_airflows_verdict_then_it_closes(
    registry, stream, sql, control_db_url
):
    # Given run-1 expecting p1 and p2: p1 SUCCESS, p2's task never ran (the stream was deactivated, or a
    # placeholder DAG replaced it) and the run's callback was lost; no later run of the stream opened
    _run_1_with_p1_done(registry, stream, control_db_url)
    registry.process(registry.group(registry.stream("other"), "other_g"), "q1", notebook="ok.ipynb")
    open_stream_run(control_db_url, run_of("other", "run-7"), ["q1"])  # still going in Airflow
    assert mark_stale_stream_runs_finished(control_db_url) == 0  # nothing tells the row alone it is over

    # When the sweep is told Airflow's state of each open run
    airflow = {("stream__s", "run-1"): "failed", ("stream__other", "run-7"): "running"}
    closed = close_stream_runs_airflow_finished(lambda dag_id, run_id: airflow.get((dag_id, run_id)),
                                                url=control_db_url)

    # Then the finished run is closed by its processes' rows, the running one left open
    assert closed == 1
    assert stream_rows(sql, "s") == [("run-1", "FAILED", False)]
    assert stream_rows(sql, "other") == [("run-7", "RUNNING", True)]
    assert "no result recorded" in last_message(sql, "p2")


def test_given_the_database_refusing_connections_for_a_moment_when_the_callback_closes_the_run_then_it_retries(
    registry, stream, sql, control_db_url
):
    # Given a run whose p2 never ran, so its callback must close the row
    _run_1_with_p1_done(registry, stream, control_db_url)
    database = sql("SELECT current_database()")[0][0]

    # When the control database refuses new connections for 3 s just as the callback runs
    with sql_runner(make_dsn(control_db_url, dbname="postgres")) as admin:
        admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        reopen = threading.Timer(3, lambda: admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        reopen.start()
        try:
            finish_stream_if_open("s", "run-1", None)
        finally:
            reopen.join()

    # Then the callback retried until it could write: the run is closed, not left RUNNING
    assert stream_rows(sql, "s") == [("run-1", "FAILED", False)]
