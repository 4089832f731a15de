"""A task's parse builds its DAG from the registrations, whatever this host's notebooks folder holds.

On Celery the worker that runs a task is often not the host whose dag-processor parsed the DAGs: a notebook
missing or lagging there must not turn the stream into its placeholder for the task sent to it (it would die
with "Task not found in Dag" and no llf message). The runner checks the notebook right before it runs.
Scenario bad_stream: stream `broken` registers missing.ipynb, `downstream` depends on it.
"""

from __future__ import annotations

import pytest

TASKS = [
    ("process__broken_step", "run_notebook"),
    ("stream__broken", "main.broken_step"),
    ("process__downstream_step", "run_notebook"),
    ("stream__downstream", "main.downstream_step"),
]


def _parse_as_task(dagbag, monkeypatch: pytest.MonkeyPatch, dag_id: str, task_id: str):
    """What Airflow's task runner sets before it parses the DAG file."""
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", dag_id)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", task_id)
    return dagbag()


@pytest.mark.parametrize(("dag_id", "task_id"), TASKS)
def test_given_a_notebook_missing_here_when_a_task_of_its_stream_is_parsed_then_the_real_dag_is_built(
    scenario, dagbag, monkeypatch, dag_id, task_id
):
    scenario("bad_stream")  # no snapshot cached: the task's parse refreshes on this host

    bag = _parse_as_task(dagbag, monkeypatch, dag_id, task_id)

    assert bag.import_errors == {}
    assert set(bag.dags) == {dag_id}
    dag = bag.dags[dag_id]
    assert "llf:invalid" not in dag.tags
    assert task_id in dag.task_dict


def test_given_the_dag_processor_made_it_a_placeholder_here_when_its_task_is_parsed_from_that_cache_then_the_real_dag(
    scenario, dagbag, monkeypatch
):
    scenario("bad_stream")
    scheduler_view = dagbag()  # the dag-processor's parse, on a host where missing.ipynb is missing too
    assert "llf:invalid" in scheduler_view.dags["stream__broken"].tags  # its verdict stands for the scheduler
    assert "process__broken_step" not in scheduler_view.dags

    bag = _parse_as_task(dagbag, monkeypatch, "process__broken_step", "run_notebook")

    assert set(bag.dags) == {"process__broken_step"}
    assert "run_notebook" in bag.dags["process__broken_step"].task_dict
