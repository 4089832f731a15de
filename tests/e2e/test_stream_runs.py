"""Streams registered by SQL, run by a real Airflow, told in cntl_af.cntl_cfg_log and the lake."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from llf.airflow_api import poll
from tests.e2e.scenarios.notebooks import FAIL, KILL_TASK_ONCE, NAP, SLEEP, SUCCEED, task_killer
from tests.e2e.scenarios.streams import Scenario, Step, stored_files

NewScenario = Callable[[str], Scenario]


def statuses(scenario: Scenario, run_id: str) -> dict[str, str]:
    return {name: row.status for name, row in scenario.processes(run_id).items()}


def test_given_a_three_group_stream_when_triggered_then_every_process_succeeds_and_stores_its_outputs(
    new_scenario: NewScenario,
) -> None:
    scenario = new_scenario("green")
    scenario.register({"g1": [Step("a1"), Step("a2")], "g2": [Step("b1", depends_on=("a1",))], "g3": [Step("c1")]},
                      max_parallel=2)

    started = time.perf_counter()
    run_id, state = scenario.run()
    print(f"\n3-group stream, 4 processes: {time.perf_counter() - started:.1f}s")

    assert state == "success"
    assert scenario.stream_row(run_id).status == "SUCCESS"
    processes = scenario.processes(run_id)
    assert {name: row.status for name, row in processes.items()} == dict.fromkeys(["a1", "a2", "b1", "c1"], "SUCCESS")
    for name, row in processes.items():
        assert stored_files(row.output_path) == [f"{scenario.prcs_nm(name)}.html", f"{scenario.prcs_nm(name)}.ipynb"]
    assert scenario.executions() == dict.fromkeys(["a1", "a2", "b1", "c1"], 1)


@pytest.fixture(scope="module")
def failed_run(new_scenario: NewScenario) -> tuple[Scenario, str, str]:
    """A stream whose `bad` notebook raises: `dependant` needs it, `independent` does not. Run once."""
    scenario = new_scenario("failing")
    scenario.register({"g1": [Step("bad", FAIL), Step("independent")], "g2": [Step("dependant", depends_on=("bad",))]},
                      max_parallel=2)
    return scenario, *scenario.run()


def test_given_a_failing_notebook_when_the_stream_runs_then_it_fails_its_dependant_is_blocked_and_others_succeed(
    failed_run: tuple[Scenario, str, str],
) -> None:
    scenario, run_id, state = failed_run

    assert state == "failed"
    processes = scenario.processes(run_id)
    assert statuses(scenario, run_id) == {"bad": "FAILED", "independent": "SUCCESS", "dependant": "BLOCKED"}
    assert "ValueError: no input rows for" in processes["bad"].message
    # executed: parameters (1), papermill's injected parameters (2), the marker (3), the raising cell (4)
    assert "(cell 4, index 3)" in processes["bad"].message
    assert "bad" in processes["dependant"].message
    assert stored_files(processes["bad"].output_path)  # the failed notebook is kept for reading
    assert "dependant" not in scenario.executions()
    stream = scenario.stream_row(run_id)
    assert stream.status == "FAILED"
    assert "bad" in stream.message and "dependant" in stream.message


def test_given_a_fixed_notebook_when_the_stream_restarts_then_only_failed_and_blocked_rerun_unless_full_rerun(
    failed_run: tuple[Scenario, str, str],
) -> None:
    scenario, _, _ = failed_run
    scenario.write_notebook("bad", SUCCEED)

    restart_id, restart_state = scenario.run()
    after_restart = scenario.executions()
    full_id, full_state = scenario.run(full_rerun=True)

    assert (restart_state, full_state) == ("success", "success")
    assert statuses(scenario, restart_id) == {"bad": "SUCCESS", "independent": "SKIPPED", "dependant": "SUCCESS"}
    assert after_restart == {"bad": 2, "independent": 1, "dependant": 1}
    assert statuses(scenario, full_id) == dict.fromkeys(["bad", "independent", "dependant"], "SUCCESS")
    assert scenario.executions() == {"bad": 3, "independent": 2, "dependant": 2}


def test_given_a_notebook_whose_task_is_sigkilled_when_the_stream_ends_then_no_row_stays_running_and_a_rerun_succeeds(
    new_scenario: NewScenario,
) -> None:
    scenario = new_scenario("killed")
    scenario.register({"g1": [Step("victim", KILL_TASK_ONCE)]})

    with task_killer(scenario.marker):
        run_id, state = scenario.run()
    killed = scenario.processes(run_id)["victim"]
    killed_pid = int(scenario.marker.with_name(scenario.marker.name + ".killed").read_text())
    rerun_id, rerun_state = scenario.run()

    assert state == "failed"
    assert killed.status == "FAILED"
    assert "abandoned" in killed.message
    assert killed.pid == killed_pid  # the row's pid is the task process the kernel's parent was
    assert scenario.running_rows() == []
    assert rerun_state == "success"
    assert statuses(scenario, rerun_id) == {"victim": "SUCCESS"}
    assert scenario.executions() == {"victim": 2}


def test_given_a_process_run_alone_when_its_task_is_sigkilled_then_its_dag_failure_callback_closes_the_row(
    new_scenario: NewScenario,
) -> None:
    scenario = new_scenario("killed_alone")
    scenario.register({"g1": [Step("victim", KILL_TASK_ONCE)]})

    with task_killer(scenario.marker):
        _, state = scenario.run_process("victim")
    # No stream sweeps here, and Airflow skips the task's own callback for a SIGKILLed task: only the
    # process DAG's on_failure_callback, run by the dag-processor a few seconds later, closes the row.
    closed = poll(lambda: True if not scenario.running_rows() else None, timeout=30)

    assert state == "failed"
    assert closed, scenario.story()
    ((status, message),) = scenario.sql(
        "SELECT status, message FROM cntl_af.cntl_cfg_log WHERE prcs_nm = %s", (scenario.prcs_nm("victim"),))
    assert status == "FAILED"
    assert "abandoned" in message


def test_given_two_simultaneous_triggers_of_one_stream_and_date_when_they_run_then_each_notebook_runs_once(
    new_scenario: NewScenario,
) -> None:
    scenario = new_scenario("twice")
    # `dependant` starts beside `slow` and asks for it while it runs: the at-most-once lock makes it wait.
    scenario.register({"g1": [Step("slow", NAP), Step("dependant", depends_on=("slow",))]}, max_parallel=2)

    first, second = scenario.trigger(), scenario.trigger()
    states = scenario.wait(first), scenario.wait(second)

    assert states == ("success", "success"), scenario.story()
    assert scenario.executions() == {"dependant": 1, "slow": 1}
    assert statuses(scenario, second) == {"slow": "SKIPPED", "dependant": "SKIPPED"}
    assert scenario.running_rows() == []


def test_given_a_notebook_over_its_timeout_when_it_runs_then_it_is_stopped_and_failed_with_the_limit(
    new_scenario: NewScenario,
) -> None:
    scenario = new_scenario("timeout")
    scenario.register({"g1": [Step("sleeper", SLEEP, timeout_min=0.05)]})

    run_id, state = scenario.run()

    assert state == "failed"
    assert "timed out after 0.05 min" in scenario.processes(run_id)["sleeper"].message


def test_given_fail_policy_stop_when_a_process_fails_then_later_groups_are_skipped(new_scenario: NewScenario) -> None:
    scenario = new_scenario("stop")
    # `last` waits in `later`'s lane (max_parallel 1): it must not start either
    scenario.register({"g1": [Step("bad", FAIL)], "g2": [Step("later"), Step("last")]}, fail_policy="STOP")

    run_id, state = scenario.run()

    assert state == "failed"
    processes = scenario.processes(run_id)
    assert statuses(scenario, run_id) == {"bad": "FAILED", "later": "SKIPPED", "last": "SKIPPED"}
    assert "fail_policy STOP" in processes["later"].message
    assert "later" not in scenario.executions() and "last" not in scenario.executions()
    assert scenario.stream_row(run_id).status == "FAILED"


def test_given_fail_policy_continue_when_a_process_fails_then_the_next_one_in_its_lane_still_runs(
    new_scenario: NewScenario,
) -> None:
    scenario = new_scenario("lane")
    scenario.register({"g1": [Step("bad", FAIL), Step("next_in_lane")], "g2": [Step("later")]}, max_parallel=1)

    run_id, state = scenario.run()

    assert state == "failed"
    assert statuses(scenario, run_id) == {"bad": "FAILED", "next_in_lane": "SUCCESS", "later": "SUCCESS"}
    assert scenario.stream_row(run_id).status == "FAILED"
