"""A stamp serialises exactly like the object Airflow's constructor builds from the same arguments."""

from __future__ import annotations

import datetime as dt
from functools import partial

import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, CronTriggerTimetable, TaskGroup, TriggerRule
from airflow.serialization.serialized_objects import DagSerialization

from llf.dagbuild import callables
from llf.dagbuild.operators import DependencyTrigger, StreamProcess
from llf.dagbuild.stamp import DagStamp, OperatorStamp, link

SHARED_DAG = {"start_date": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "catchup": False, "max_active_runs": 3}
DAG_FIELDS = {"description": "d", "doc_md": "## doc", "tags": ["llf:stream", "stream:s"],
              "max_active_tasks": 4, "default_args": {"owner": "team_a"}}
TRIGGER = {"conf": "{{ 1 }}", "wait_for_completion": True, "deferrable": True, "poke_interval": 2,
           "allowed_states": ["success"], "failed_states": ["failed"],
           "trigger_rule": TriggerRule.ALL_DONE_MIN_ONE_SUCCESS}
SHARED = {
    TriggerDagRunOperator: TRIGGER,
    PythonOperator: {"on_failure_callback": callables.close_abandoned_attempts, "trigger_rule": TriggerRule.ALL_DONE},
    EmptyOperator: {"trigger_rule": TriggerRule.ALL_DONE},
    DependencyTrigger: {"wait_for_completion": True, "deferrable": True, "poke_interval": 2},
    StreamProcess: {"wait_for_completion": True, "deferrable": False, "poke_interval": 1},
}
# What a template needs for the constructor's required arguments; every stamp overrides it.
PLACEHOLDERS = {
    TriggerDagRunOperator: {"trigger_dag_id": "placeholder"},
    PythonOperator: {"python_callable": print},
    DependencyTrigger: {"trigger_dag_id": "placeholder", "dependency_conf": callables.dependency_conf},
    StreamProcess: {"trigger_dag_id": "placeholder", "run_here": callables.run_in_stream},
}


def populate(dag: DAG, make, link) -> None:
    """The same tasks either way: `make(cls, dag, task_id, group, **fields)`, `link(upstream, task)`."""
    group = TaskGroup(group_id="g1", dag=dag)
    first = make(TriggerDagRunOperator, dag, "load_a", group, trigger_dag_id="process__a", owner="team_a",
                 doc_md="loads a")
    second = make(TriggerDagRunOperator, dag, "load_b", group, trigger_dag_id="process__b", owner="team_b")
    gate = make(EmptyOperator, dag, "after__g1", None, owner="o")
    notebook = make(PythonOperator, dag, "run_notebook", None, owner="o", retries=2,
                    execution_timeout=dt.timedelta(minutes=7), queue="llm", pool="llm", pool_slots=2,
                    python_callable=partial(callables.run_notebook, prcs_nm="a", timezone="UTC"))
    link([first, second], gate)
    dependency = make(DependencyTrigger, dag, "dependency__c", None, owner="o", trigger_dag_id="process__c",
                      dependency_conf=partial(callables.dependency_conf, dependency="c", prcs_nm="a",
                                              timezone="UTC"))
    link([gate, dependency], notebook)
    in_stream = make(StreamProcess, dag, "report", None, owner="o", trigger_dag_id="process__r", retries=1,
                     trigger_rule=TriggerRule.ONE_DONE, queue="gpu", pool="llm", pool_slots=3, deferrable=True,
                     run_here=partial(callables.run_in_stream, strem_nm="s", prcs_nm="r", timezone="UTC"))
    link([gate], in_stream)


def constructed(cls, dag, task_id, group, **fields):
    return cls(task_id=task_id, dag=dag, task_group=group, **{**SHARED[cls], **fields})  # a field overrides


def stamped(cls, dag, task_id, group, **fields):
    stamp = OperatorStamp(cls, **SHARED[cls], **PLACEHOLDERS.get(cls, {}))
    return stamp(dag, task_id=task_id, task_group=group, **fields)


@pytest.mark.parametrize("schedule", [None, CronTriggerTimetable("30 6 * * 1-5", timezone="Europe/Paris")])
def test_given_the_same_arguments_when_stamped_then_dag_and_tasks_serialise_like_constructed_ones(schedule):
    reference = DAG(dag_id="s", schedule=schedule, **SHARED_DAG, **DAG_FIELDS)
    populate(reference, constructed, lambda upstream, task: task.set_upstream(upstream))
    stamp = DagStamp(**SHARED_DAG)(dag_id="s", schedule=schedule, **DAG_FIELDS)
    populate(stamp, stamped, link)
    reference.fileloc = stamp.fileloc = "dags/llf_dags.py"  # as DagBag sets it for every DAG of a file

    assert DagSerialization.to_dict(stamp) == DagSerialization.to_dict(reference)
    assert stamp.task_group.get_task_group_dict().keys() == reference.task_group.get_task_group_dict().keys()
    assert type(stamp.timetable) is type(reference.timetable) and stamp.dag_display_name == "s"


def test_given_a_failure_callback_when_stamped_then_the_dag_says_it_has_one_like_a_constructed_dag():
    # the scheduler reads has_on_failure_callback from the serialized DAG to decide whether to call it
    reference = DAG(dag_id="s", schedule=None, on_failure_callback=print, **SHARED_DAG)
    stamp = DagStamp(**SHARED_DAG)(dag_id="s", on_failure_callback=print)

    assert stamp.has_on_failure_callback is reference.has_on_failure_callback is True
    assert DagSerialization.to_dict(stamp)["dag"].get("has_on_failure_callback") is True


def test_given_two_stamps_of_one_template_when_one_is_changed_then_the_other_is_not():
    make_dag, make_task = DagStamp(**SHARED_DAG), OperatorStamp(EmptyOperator)
    one, two = make_dag(dag_id="one", tags=["a"]), make_dag(dag_id="two", tags=["b"])
    a, b = make_task(one, task_id="t"), make_task(two, task_id="t")
    link([a], make_task(one, task_id="u"))
    one.params.update({"x": 1})

    assert (one.tags, two.tags) == ({"a"}, {"b"})
    assert (a.downstream_task_ids, b.downstream_task_ids) == ({"u"}, set())
    assert ("x" in one.params, "x" in two.params) == (True, False)
    assert (set(one.task_dict), set(two.task_dict)) == ({"t", "u"}, {"t"})


def test_given_an_invalid_id_when_stamped_then_airflow_refuses_it_as_the_constructor_would():
    with pytest.raises(ValueError):
        DagStamp(**SHARED_DAG)(dag_id="bad id!")
    with pytest.raises(ValueError):
        OperatorStamp(EmptyOperator)(DAG(dag_id="d", schedule=None), task_id="bad id!")
