"""Drill: the database restarts while a stream runs, on a real Airflow.

The session's embedded PostgreSQL holds the control database and Airflow's metadata database, so a
restart cuts every session at once: the running notebook's run lock, each Airflow component's
connections, the test session's own. Airflow's scheduler, dag-processor and triggerer exit when a query
fails in their loop, as they do in production, where a supervisor starts them again (docker-compose:
restart unless-stopped); here the stack does (AirflowStack.revive). Once the database is back, every
attempt of the run must end with a recorded final status and none may stay RUNNING once the sweep
`llf status` runs has run; then a rerun for the same business date must complete the date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from llf.airflow_api import poll
from llf.control import log as run_log
from llf.local.airflow import AirflowStack
from llf.local.postgres import EmbeddedPostgres
from llf.runner.tasks import mark_stale_stream_runs_finished
from tests.e2e.scenarios.notebooks import NAP
from tests.e2e.scenarios.streams import BUSINESS_DATE, STREAM_RUN_TIMEOUT, Scenario, Step
from tests.support.registry import Registry, sql_runner

FINAL = {"SUCCESS", "FAILED", "BLOCKED", "SKIPPED"}
NOTEBOOK_START_TIMEOUT = 120  # the stream's first task, then a kernel, on two busy cores


def run_rows(scenario: Scenario, run_id: str) -> list[tuple[str | None, str]]:
    """(prcs_nm or None for the stream row, status) of every row the run wrote."""
    return [tuple(row) for row in scenario.sql(
        "SELECT prcs_nm, status FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND (run_id = %s OR strem_run_id = %s) "
        "ORDER BY log_id", (scenario.name, run_id, run_id))]


def test_given_a_notebook_running_in_a_stream_when_the_database_restarts_then_every_attempt_ends_and_a_rerun_completes(
    new_scenario: Callable[[str], Scenario], postgres: EmbeddedPostgres, airflow: AirflowStack,
    e2e_control_db_url: str,
) -> None:
    scenario = new_scenario("db_restart")
    scenario.register({"g1": [Step("napper", NAP)], "g2": [Step("after")]})
    run_id = scenario.trigger()
    napping = poll(lambda: scenario.executions().get("napper"), timeout=NOTEBOOK_START_TIMEOUT)
    assert napping, f"the napper notebook did not start:\n{scenario.story()}"

    postgres.restart()
    revived = airflow.revive(since=dt.datetime.now(dt.UTC))

    # The session's shared connection died with the restart: this test goes on with a connection of its own.
    with sql_runner(e2e_control_db_url) as sql:
        scenario = dataclasses.replace(scenario, sql=sql, registry=Registry(sql))
        state = scenario.api.wait_for_run(scenario.dag_id, run_id, timeout=STREAM_RUN_TIMEOUT)
        run_log.mark_abandoned_attempts_failed(e2e_control_db_url)  # what `llf status` runs
        mark_stale_stream_runs_finished(e2e_control_db_url)
        after_sweep = run_rows(scenario, run_id)
        rerun_id, rerun_state = scenario.run()
        latest = run_log.latest_attempts(e2e_control_db_url, [scenario.prcs_nm("napper"), scenario.prcs_nm("after")],
                                         BUSINESS_DATE)
        story = scenario.story()
        rerun_statuses = {name: row.status for name, row in scenario.processes(rerun_id).items()}
        running = scenario.running_rows()

    print(f"\ncomponents started again after the restart: {revived}; run {state}; rows {after_sweep}")
    assert state in ("success", "failed"), story
    processes = {scenario.prcs_nm("napper"), scenario.prcs_nm("after")}
    assert {prcs_nm for prcs_nm, _ in after_sweep} == {None, *processes}, story
    assert all(status in FINAL for _, status in after_sweep), story
    assert rerun_state == "success", story
    assert set(rerun_statuses) == {"napper", "after"} and set(rerun_statuses.values()) <= {"SUCCESS", "SKIPPED"}, story
    assert {entry.status for entry in latest.values()} == {"SUCCESS"} and len(latest) == 2, story
    assert running == [], story
