"""The end-to-end harness itself: a real Airflow parses, schedules, defers and runs DAGs triggered by REST."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llf.airflow_api import AirflowClient, poll
from llf.local.airflow import TASK_INSTANCE_HEARTBEAT_TIMEOUT_SEC


def test_given_the_stack_when_hello_is_triggered_then_it_and_its_deferred_child_succeed(
    airflow_api: AirflowClient,
) -> None:
    airflow_api.wait_for_dag("e2e_hello")

    started = time.perf_counter()
    run_id = airflow_api.trigger("e2e_hello")
    state = airflow_api.wait_for_run("e2e_hello", run_id, timeout=60)
    print(f"\ne2e_hello run (trigger -> deferred child -> success): {time.perf_counter() - started:.1f}s")

    assert state == "success"
    child_run_id = airflow_api.xcom("e2e_hello", run_id, "run_child", key="trigger_run_id")
    assert airflow_api.run("e2e_hello_child", child_run_id)["state"] == "success"


def test_given_the_forkserver_preload_when_a_task_starts_then_papermill_and_nbconvert_are_already_loaded(
    airflow_api: AirflowClient,
) -> None:
    airflow_api.wait_for_dag("e2e_preloaded")

    run_id = airflow_api.trigger("e2e_preloaded")

    assert airflow_api.wait_for_run("e2e_preloaded", run_id, timeout=60) == "success"
    assert airflow_api.xcom("e2e_preloaded", run_id, "modules_loaded_before_parse") == [
        "llf.runner.tasks", "nbconvert", "papermill"]


@pytest.mark.parametrize(
    ("victim", "callbacks_that_run"),
    [
        # The supervisor sees its child die and reports FAILED at once; the task-level callback would
        # have to run inside the killed process, so only the DAG-level one (dag-processor) runs.
        ("task", ["dag"]),
        # Nobody reports: the scheduler fails the task after the heartbeat timeout and sends both
        # callbacks to the dag-processor.
        ("supervisor", ["dag", "task"]),
    ],
)
def test_given_a_sigkilled_task_when_it_runs_then_the_run_fails_and_the_expected_callbacks_run(
    airflow_api: AirflowClient, tmp_path: Path, victim: str, callbacks_that_run: list[str]
) -> None:
    airflow_api.wait_for_dag("e2e_killed")

    started = time.perf_counter()
    run_id = airflow_api.trigger("e2e_killed", {"victim": victim, "markers": str(tmp_path)})
    state = airflow_api.wait_for_run("e2e_killed", run_id, timeout=TASK_INSTANCE_HEARTBEAT_TIMEOUT_SEC + 60)
    failed_after = time.perf_counter() - started
    callbacks = _callbacks_run(tmp_path, expected=len(callbacks_that_run))
    print(f"\n{victim} SIGKILLed: run {state} after {failed_after:.1f}s; callbacks run: {callbacks}")

    assert state == "failed"
    assert callbacks == callbacks_that_run


def _callbacks_run(markers: Path, expected: int, timeout: float = 30) -> list[str]:
    """The callbacks that left a marker, once `expected` have (the dag-processor runs them a bit later)."""
    poll(lambda: True if len(list(markers.iterdir())) >= expected else None, timeout)
    return sorted(marker.name for marker in markers.iterdir())
