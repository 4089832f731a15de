"""The stream DAG's shape: order, parallelism, schedule, params, conf for the process runs."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import CronTriggerTimetable
from airflow.serialization.encoders import encode_timetable

from llf.control.model import task_timeout
from llf.dagbuild.operators import StreamProcess


@pytest.fixture
def sales(scenario, dagbag):
    scenario("ordering")
    bag = dagbag()
    assert bag.import_errors == {}
    return bag.dags["stream__sales"]


def upstream_triggers(dag, task_id: str) -> set[str]:
    return {t for t in dag.get_task(task_id).upstream_task_ids}


def test_given_groups_inserted_out_of_order_when_parsed_then_groups_run_in_ascending_priority(sales):
    assert list(sales.task_group.children) == ["prepare", "report", "finish_stream"]
    assert upstream_triggers(sales, "report.report_1") == {f"prepare.load_{x}" for x in "abcde"}


def test_given_max_parallel_2_when_parsed_then_processes_start_in_priority_order_on_two_lanes(sales):
    roots = {t.task_id for t in sales.tasks if not t.upstream_task_ids}
    assert roots == {"prepare.load_a", "prepare.load_b"}
    assert upstream_triggers(sales, "prepare.load_c") == {"prepare.load_a"}
    assert upstream_triggers(sales, "prepare.load_d") == {"prepare.load_b"}
    assert upstream_triggers(sales, "prepare.load_e") == {"prepare.load_c"}


def test_given_max_parallel_1_when_parsed_then_the_group_is_one_chain(sales):
    assert upstream_triggers(sales, "report.report_2") == {"report.report_1"}


def test_given_fail_policy_continue_when_a_process_fails_then_later_processes_and_groups_still_start(sales):
    # a lane goes on after its predecessor failed; the next group's heads wait for everything, whatever it did
    assert sales.get_task("prepare.load_c").trigger_rule == "one_done"
    assert sales.get_task("report.report_1").trigger_rule == "all_done"
    finish = sales.get_task("finish_stream")
    assert finish.upstream_task_ids == {t.task_id for t in sales.tasks} - {"finish_stream"}


def test_given_fail_policy_stop_when_parsed_then_the_next_groups_heads_need_every_success(scenario, dagbag):
    scenario("stop_policy")
    dag = dagbag().dags["stream__strict"]
    head = dag.get_task("second.step_second")
    assert head.trigger_rule == "all_success"
    assert head.upstream_task_ids == {t.task_id for t in dag.task_group.children["first"]}
    assert dag.timetable.can_be_scheduled is False  # no schedule row: manual only


def test_given_streams_leaving_worker_slots_free_when_parsed_then_triggers_poll_in_their_slot_every_second(
    sales,
):
    trigger = sales.get_task("prepare.load_a")
    assert trigger.trigger_dag_id == "process__load_a"
    assert (trigger.deferrable, trigger.wait_for_completion, trigger.poke_interval) == (False, True, 1)
    assert [str(s) for s in trigger.allowed_states] == ["success"]
    assert [str(s) for s in trigger.failed_states] == ["failed"]


def test_given_widest_groups_filling_core_parallelism_when_parsed_then_triggers_defer_to_free_their_slots(
    scenario, dagbag, monkeypatch
):
    scenario("ordering")
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "2")  # sales' widest group runs 2 processes at once
    trigger = dagbag().dags["stream__sales"].get_task("prepare.load_a")
    assert (trigger.deferrable, trigger.wait_for_completion, trigger.poke_interval) == (True, True, 1)


@pytest.mark.parametrize(("setting", "deferrable"), [("defer", True), ("poll", False), ("POLL", False)])
def test_given_llf_stream_wait_when_parsed_then_every_trigger_waits_that_way(
    scenario, dagbag, monkeypatch, setting, deferrable
):
    scenario("ordering")
    monkeypatch.setenv("LLF_STREAM_WAIT", setting)
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "2")  # what auto would decide does not matter
    dag = dagbag().dags["stream__sales"]
    assert {t.deferrable for t in dag.tasks if isinstance(t, TriggerDagRunOperator)} == {deferrable}


def test_given_a_bad_llf_stream_wait_when_parsed_then_the_error_names_the_setting(scenario, dagbag, monkeypatch):
    scenario("ordering")
    monkeypatch.setenv("LLF_STREAM_WAIT", "sometimes")
    (message,) = dagbag().import_errors.values()
    assert "LLF_STREAM_WAIT='sometimes'" in message and "auto, poll, defer" in message


def test_given_a_stream_when_parsed_then_each_process_task_runs_its_own_process_and_falls_back_to_its_dag(sales):
    task = sales.get_task("prepare.load_a")
    assert isinstance(task, StreamProcess)
    assert task.run_here.keywords == {"strem_nm": "sales", "prcs_nm": "load_a", "timezone": "Europe/Paris"}
    assert task.trigger_dag_id == "process__load_a"


def test_given_a_stream_when_parsed_then_only_process_tasks_need_a_worker_and_callbacks_close_the_run(sales):
    finish = sales.get_task("finish_stream")
    assert isinstance(finish, EmptyOperator) and finish.trigger_rule == "all_success"
    assert {type(t) for t in sales.tasks} == {StreamProcess, EmptyOperator}
    for callback in (sales.on_success_callback, sales.on_failure_callback):
        assert callback.keywords == {"strem_nm": "sales", "timezone": "Europe/Paris"}
    assert sales.has_on_success_callback and sales.has_on_failure_callback


def test_given_a_schedule_row_when_parsed_then_the_cron_runs_in_its_time_zone(sales):
    assert isinstance(sales.timetable, CronTriggerTimetable)
    encoded = encode_timetable(sales.timetable)["__var"]
    assert (encoded["expression"], encoded["timezone"]) == ("30 6 * * 1-5", "Europe/Paris")
    assert (sales.catchup, sales.max_active_runs) == (False, 1)


def test_given_a_stream_when_parsed_then_params_default_to_logical_date_and_no_full_rerun(sales):
    params = sales.params
    assert params["business_date"] == "" and params["full_rerun"] is False
    assert params.get_param("business_date").schema["type"] == "string"
    assert params.get_param("full_rerun").schema["type"] == "boolean"
    params.validate()


def test_given_descriptions_and_owners_when_parsed_then_docs_tags_and_owner_come_from_the_tables(sales):
    assert "Daily sales recommendations" in sales.doc_md
    assert set(sales.tags) == {"llf:stream", "stream:sales", "group:prepare", "group:report"}
    assert {t.owner for t in sales.tasks} == {"merch_team"}


def test_given_a_process_timeout_when_parsed_then_its_stream_task_is_bounded_like_its_process_dag_task(
    scenario, dagbag
):
    # A stream task runs the notebook in place: it waits for the run lock, runs the notebook, closes its row.
    scenario("dependencies")
    bag = dagbag()
    stream_task = bag.dags["stream__finance"].get_task("all.report")
    assert stream_task.execution_timeout == task_timeout(20) == dt.timedelta(minutes=50)
    assert bag.dags["process__report"].get_task("run_notebook").execution_timeout == stream_task.execution_timeout


def test_given_a_shaped_stream_when_parsed_then_airflow_fails_a_run_past_the_longest_a_healthy_run_takes(
    scenario, dagbag
):
    # Given: group `first` on two lanes (a then c; b), group `second` with d, which depends on `raw` of
    # another stream; Airflow's default retry_delay (5 min) between tries.
    scenario("bounds")
    bag = dagbag()
    assert bag.import_errors == {}
    daily, minutes = bag.dags["stream__daily"], lambda m: dt.timedelta(minutes=m)
    assert {t.retry_delay for t in daily.tasks if t.task_id != "finish_stream"} == {minutes(5)}
    # A try of a process task takes at most task_timeout (2 × timeout_min + 10 min), then the retry delay:
    #   a: 3 tries × (30 + 5) = 105, c: 2 × (40 + 5) = 90, so lane a→c: 195 (lane b: 1 × (20 + 5) = 25).
    #   raw's process run: 2 × (70 + 5) + 5 (its start) = 155; d waits for it in its process run (155 + 5),
    #   which runs d's notebook (50 + 5) after: 5 + 160 + 55 = 220; d's stream task: 1 try × (220 + 5) = 225.
    # Then: the stream run ends within the sum over its groups plus its start: 195 + 225 + 5.
    assert daily.dagrun_timeout == minutes(425)
    # The process DAGs are bounded by their own healthy run, dependency runs included.
    assert bag.dags["process__raw"].dagrun_timeout == minutes(155)
    assert bag.dags["process__d"].dagrun_timeout == minutes(220)
    assert bag.dags["process__a"].dagrun_timeout == minutes(110)
    assert bag.dags["stream__ingest"].dagrun_timeout == minutes(155)
