"""Queues and pools from the control tables (llf/control/sql/0026) on the tasks that run notebooks, and only there."""

from __future__ import annotations

import pytest

# (stream task id, process DAG id) -> (queue, pool, pool_slots) the registration says
ROUTED = {
    ("fetch.load", "process__load"): ("default", "io", 1),
    ("think.ask", "process__ask"): ("llm", "llm", 2),
    ("think.summarise", "process__summarise"): ("gpu", "default_pool", 1),
}


@pytest.fixture
def routed(scenario, dagbag):
    scenario("routing")
    bag = dagbag()
    assert bag.import_errors == {}
    return bag.dags


def where(task) -> tuple[str, str, int]:
    return task.queue, task.pool, task.pool_slots


def test_given_queues_and_pools_registered_when_parsed_then_each_stream_task_of_a_process_takes_them(routed):
    stream = routed["stream__routed"]
    assert {task_id: where(stream.get_task(task_id)) for task_id, _ in ROUTED} == {
        task_id: routing for (task_id, _), routing in ROUTED.items()}


def test_given_queues_and_pools_registered_when_parsed_then_each_process_dags_notebook_task_takes_them(routed):
    assert {dag_id: where(routed[dag_id].get_task("run_notebook")) for _, dag_id in ROUTED} == {
        dag_id: routing for (_, dag_id), routing in ROUTED.items()}


def test_given_routed_processes_when_parsed_then_tasks_running_no_notebook_stay_on_the_default_queue_and_pool(
    routed,
):
    finish = routed["stream__routed"].get_task("finish_stream")
    gate = routed["process__summarise"].get_task("dependency__ask")
    assert where(finish) == where(gate) == ("default", "default_pool", 1)


def test_given_a_pooled_process_when_parsed_then_its_stream_task_defers_a_wait_instead_of_holding_the_slot(routed):
    stream = routed["stream__routed"]
    assert stream.get_task("think.ask").deferrable is True  # polling, it would hold an llm slot its run needs
    assert stream.get_task("think.summarise").deferrable is False  # no pool: the stream's own choice (poll)


def test_given_a_registration_without_routing_when_parsed_then_every_task_keeps_queue_default_and_no_pool(
    scenario, dagbag,
):
    scenario("dependencies")
    bag = dagbag()
    assert bag.import_errors == {}
    tasks = [task for dag in bag.dags.values() for task in dag.tasks]
    assert tasks and {where(task) for task in tasks} == {("default", "default_pool", 1)}


def test_given_a_process_naming_an_unregistered_pool_when_parsed_then_its_stream_is_the_invalid_placeholder(
    scenario, sql, dagbag,
):
    scenario("routing")
    sql("UPDATE cntl_af.cntl_cfg_prcs SET pool_nm = 'lm' WHERE prcs_nm = 'ask'")

    bag = dagbag()

    assert bag.import_errors == {}
    routed = bag.dags["stream__routed"]
    assert "llf:invalid" in routed.tags
    assert "prcs_nm=ask" in routed.doc_md and "'lm'" in routed.doc_md and "the closest is 'llm'" in routed.doc_md
    assert "process__ask" not in bag.dags
