"""The log row says where an attempt ran: the host Airflow names for the task (its TaskInstance's hostname,
through `[core] hostname_callable`, so two workers on one machine differ) and the Celery queue it was sent
to; a run outside Airflow (`llf run` by hand) records the machine's name and no queue."""

from __future__ import annotations

import socket

from llf.runner import process
from tests.runner.conftest import run_context


def where(sql, prcs_nm: str) -> list[tuple]:
    return [tuple(row) for row in sql(
        "SELECT status, hostname, queue_nm FROM cntl_af.cntl_cfg_log WHERE prcs_nm = %s ORDER BY log_id",
        (prcs_nm,))]


def test_given_a_task_context_naming_its_worker_and_queue_when_the_process_runs_then_its_row_records_them(
    registry, stream, sql, control_db_url, tmp_path
):
    registry.process(stream["group"], "p", params={"marker": str(tmp_path / "ran.txt")})

    process.run_process(control_db_url, run_context("p", hostname="llf-worker-2", queue_nm="llm"))

    assert where(sql, "p") == [("SUCCESS", "llf-worker-2", "llm")]


def test_given_a_run_outside_airflow_when_the_process_runs_then_its_row_names_this_machine_and_no_queue(
    registry, stream, sql, control_db_url, tmp_path
):
    registry.process(stream["group"], "p", params={"marker": str(tmp_path / "ran.txt")})

    process.run_process(control_db_url, run_context("p"))

    assert where(sql, "p") == [("SUCCESS", socket.gethostname(), None)]
