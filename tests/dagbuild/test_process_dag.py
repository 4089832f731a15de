"""The process DAG's shape: dependency step, notebook step, and what the notebook step is told."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowSkipException, DagRunTriggerException

from llf.control.model import task_timeout
from llf.dagbuild import callables
from llf.dagbuild.operators import DependencyTrigger


@pytest.fixture
def dags(scenario, dagbag):
    scenario("dependencies")
    bag = dagbag()
    assert bag.import_errors == {}
    return bag.dags


def process_run(business_date: str) -> dict:
    """The task context of a `process__report` run started by stream run `sched__1`'s task for report, with the
    run id and token that task's trigger minted (llf.runner.identity)."""
    from llf.context import RunContext
    from llf.runner.tasks import trigger_for_stream_task

    asker = RunContext(strem_nm="finance", prcs_nm="report", business_date=dt.date.fromisoformat(business_date),
                       run_id="sched__1", strem_run_id="sched__1", triggered_by="stream")
    trigger = trigger_for_stream_task(asker)
    return {
        "params": {"business_date": business_date, "full_rerun": False},
        "logical_date": None,
        "dag_run": SimpleNamespace(conf={"strem_nm": "finance", "strem_run_id": "sched__1",
                                         "triggered_by": "stream", "run_token": trigger.token}),
        "run_id": trigger.grant.run_id,
        "ti": SimpleNamespace(dag_id="process__report", task_id="dependency__x", try_number=1,
                              get_dag=lambda dag_id: SimpleNamespace(dag_id=dag_id, is_paused=False)),
    }

def test_given_two_dependencies_when_parsed_then_each_has_a_deferrable_trigger_and_the_notebook_always_runs(
    dags,
):
    report = dags["process__report"]
    triggers = {t.task_id: t for t in report.tasks if isinstance(t, DependencyTrigger)}
    assert set(triggers) == {"dependency__extract_ap", "dependency__extract_gl"}
    assert {t.trigger_dag_id for t in triggers.values()} == {"process__extract_ap", "process__extract_gl"}
    assert all(t.deferrable and t.wait_for_completion and t.poke_interval == 1 for t in triggers.values())
    assert all(t.upstream_task_ids == set() for t in triggers.values())  # all start at once
    notebook = report.get_task("run_notebook")
    assert notebook.upstream_task_ids == set(triggers)
    assert notebook.trigger_rule == "all_done"


def test_given_one_dependency_satisfied_when_the_triggers_run_then_it_is_skipped_and_the_other_triggered(
    dags, sql
):
    sql("INSERT INTO cntl_af.cntl_cfg_log (prcs_nm, business_date, run_id, status) "
        "VALUES ('extract_gl', '2024-05-02', 'earlier', 'SUCCESS')")
    report = dags["process__report"]
    with pytest.raises(AirflowSkipException):
        report.get_task("dependency__extract_gl").execute(process_run("2024-05-02"))
    with pytest.raises(DagRunTriggerException) as triggered:
        report.get_task("dependency__extract_ap").execute(process_run("2024-05-02"))
    assert triggered.value.trigger_dag_id == "process__extract_ap"
    # extract_ap is finance's own process: filed within the stream run that asked, vouched for by a new token
    conf = dict(triggered.value.conf)
    assert conf.pop("run_token") != ""
    assert conf == {"business_date": "2024-05-02", "full_rerun": False, "strem_nm": "finance",
                    "strem_run_id": "sched__1", "triggered_by": "dependency"}
    assert triggered.value.dag_run_id.startswith("manual__")
    assert triggered.value.deferrable and triggered.value.wait_for_completion


def test_given_no_dependency_when_parsed_then_the_process_dag_is_just_the_notebook(dags):
    assert [t.task_id for t in dags["process__extract_gl"].tasks] == ["run_notebook"]


def test_given_timeout_and_retries_when_parsed_then_the_notebook_step_gets_the_lock_wait_the_notebook_and_a_margin(
    dags,
):
    # timeout_min 20: the run lock waited for at most 20 + 5 min, the notebook 20 min, a margin of 5 (issue 24)
    notebook = dags["process__report"].get_task("run_notebook")
    assert notebook.retries == 2
    assert notebook.execution_timeout == task_timeout(20) == dt.timedelta(minutes=50)
    assert notebook.on_failure_callback == [callables.close_abandoned_attempts]


def test_given_a_process_dag_when_parsed_then_the_dag_itself_closes_abandoned_attempts_on_failure(dags):
    # a SIGKILLed task never runs its own callback; Airflow still runs the DAG's
    assert dags["process__report"].on_failure_callback == callables.close_abandoned_attempts


def test_given_registered_params_with_braces_when_parsed_then_they_reach_the_callable_untemplated(dags):
    notebook = dags["process__report"].get_task("run_notebook")
    assert notebook.op_kwargs == {}  # op_kwargs would be Jinja-rendered
    # The params are not in the DAG at all: the runner reads them from the registration at run time
    # (tests/runner/test_process.py: braces reach the notebook as registered).
    assert set(notebook.python_callable.keywords) == {"prcs_nm", "timezone"}


def test_given_process_dags_when_parsed_then_manual_only_with_run_params_docs_and_tags(dags):
    report = dags["process__report"]
    assert report.timetable.can_be_scheduled is False
    assert report.params["business_date"] == "" and report.params["full_rerun"] is False
    assert "Monthly report" in report.doc_md and "`extract_ap`" in report.doc_md
    assert set(report.tags) == {"llf:process", "stream:finance", "group:all"}
