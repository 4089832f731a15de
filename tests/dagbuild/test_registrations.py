"""Which DAGs exist: inactive rows vanish, a bad stream is isolated, a task builds only its DAG."""

from __future__ import annotations

import pytest
from airflow.serialization.serialized_objects import DagSerialization

from llf.dagbuild import build_dags
from llf.exceptions import RegistrationError


def test_given_inactive_streams_groups_processes_and_schedules_when_parsed_then_they_vanish(scenario, dagbag):
    scenario("inactive")
    bag = dagbag()
    assert bag.import_errors == {}
    assert set(bag.dags) == {"stream__live", "process__kept_on"}
    live = bag.dags["stream__live"]
    assert [t.task_id for t in live.tasks] == ["kept.kept_on", "finish_stream"]
    assert live.timetable.can_be_scheduled is False  # its only schedule row is inactive


def test_given_a_stream_with_a_missing_notebook_when_parsed_then_only_it_and_its_dependants_are_placeholders(
    scenario, dagbag
):
    scenario("bad_stream")
    bag = dagbag()
    assert bag.import_errors == {}
    assert set(bag.dags) == {"stream__good", "process__good_step", "stream__broken", "stream__downstream"}
    broken = bag.dags["stream__broken"]
    assert "llf:invalid" in broken.tags
    assert "cntl_cfg_sys_file (prcs_id=" in broken.description and "missing.ipynb" in broken.description
    assert "Fix:" in broken.doc_md
    assert "depends on broken_step of stream broken" in bag.dags["stream__downstream"].doc_md
    assert broken.timetable.can_be_scheduled is False
    with pytest.raises(RegistrationError, match="missing.ipynb"):
        broken.get_task("invalid_registration").python_callable()


def test_given_a_task_run_when_the_file_is_parsed_then_only_the_dag_being_run_is_built(
    scenario, dagbag, monkeypatch
):
    scenario("dependencies")
    # What the task runner sets before parsing (Airflow's own context manager leaks it into the env)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "process__report")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "run_notebook")
    assert set(dagbag().dags) == {"process__report"}


@pytest.mark.parametrize("name", ["ordering", "stop_policy", "dependencies", "bad_stream", "routing"])
def test_given_a_scenario_when_its_dags_are_serialized_like_the_dag_processor_does_then_nothing_fails(
    scenario, name
):
    scenario(name)
    dags = build_dags()
    assert dags
    for dag in dags.values():
        round_trip = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        assert round_trip.params.dump() == dag.params.dump()
