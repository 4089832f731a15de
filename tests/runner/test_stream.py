"""The stream-level log row: opened by whichever process task comes first, closed by finish_stream."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from llf.control import log as run_log
from llf.runner.stream import StreamFailed, finish_stream, open_stream_run
from tests.runner.conftest import BUSINESS_DATE, run_context


def stream_rows(sql, strem_nm: str) -> list[tuple[str, str, bool]]:
    return sql("SELECT run_id, status, end_ts IS NULL FROM cntl_af.cntl_cfg_log "
               "WHERE strem_nm = %s AND prcs_nm IS NULL ORDER BY log_id", (strem_nm,))


def test_given_process_tasks_starting_together_when_they_open_the_stream_run_then_one_row_is_opened(
    stream, sql, control_db_url
):
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: open_stream_run("s", BUSINESS_DATE, "run-1"), range(12)))

    assert stream_rows(sql, "s") == [("run-1", "RUNNING", True)]


def test_given_a_cleared_stream_run_when_a_task_runs_again_then_its_row_reopens_and_finish_closes_it(
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p1", notebook="ok.ipynb")
    open_stream_run("s", BUSINESS_DATE, "run-1")
    run_log.mark_success(control_db_url, run_context("p1", run_id="run-1", strem_run_id="run-1"), "ok")
    finish_stream("s", BUSINESS_DATE, "run-1")
    assert stream_rows(sql, "s") == [("run-1", "SUCCESS", False)]

    open_stream_run("s", BUSINESS_DATE, "run-1")
    assert stream_rows(sql, "s") == [("run-1", "RUNNING", True)]
    finish_stream("s", BUSINESS_DATE, "run-1")
    assert stream_rows(sql, "s") == [("run-1", "SUCCESS", False)]


def test_given_two_streams_sharing_a_scheduled_run_id_when_one_finishes_then_only_its_processes_count(
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p1", notebook="ok.ipynb")
    other = registry.stream("other")
    registry.process(registry.group(other, "other_g"), "q1", notebook="ok.ipynb")
    run_id = "scheduled__2026-03-14T06:30:00+00:00"  # same cron, same instant: same run id
    for strem_nm in ("s", "other"):
        open_stream_run(strem_nm, BUSINESS_DATE, run_id)
    run_log.mark_success(control_db_url, run_context("p1", run_id=run_id, strem_run_id=run_id), "ok")
    run_log.mark_failed(control_db_url, run_context("q1", strem_nm="other", run_id=run_id, strem_run_id=run_id),
                        "ValueError: boom")

    finish_stream("s", BUSINESS_DATE, run_id)
    with pytest.raises(StreamFailed, match="q1"):
        finish_stream("other", BUSINESS_DATE, run_id)

    assert [row[1] for row in stream_rows(sql, "s")] == ["SUCCESS"]
    assert [row[1] for row in stream_rows(sql, "other")] == ["FAILED"]
