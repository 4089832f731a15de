"""Fault drill under a real Airflow: the task process is SIGKILLed mid-notebook and Airflow retries it.

Airflow marks the killed try UP_FOR_RETRY and starts try 2 of the same run after the retry delay, with
no failure callback in between, so the dead try's row is still RUNNING when try 2 reaches the runner.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.scenarios.notebooks import KILL_TASK_ONCE, task_killer
from tests.e2e.scenarios.streams import BUSINESS_DATE, STREAM_RUN_TIMEOUT, Scenario

NewScenario = Callable[[str], Scenario]
# llf sets no retry_delay, so Airflow's [core] default_task_retry_delay separates the two tries: 2 s in the
# e2e stack (tests/e2e/conftest.py), 300 s by default; the wait below allows for either.
RETRY_DELAY_SECONDS = 300


def test_given_a_process_with_one_retry_when_its_task_is_sigkilled_mid_notebook_then_the_retry_succeeds(
    new_scenario: NewScenario,
) -> None:
    scenario = new_scenario("retried")
    with task_killer(scenario.marker):
        prcs_nm, dag_id, run_id = scenario.trigger_retried_victim(KILL_TASK_ONCE)
        state = scenario.api.wait_for_run(dag_id, run_id, timeout=RETRY_DELAY_SECONDS + 2 * STREAM_RUN_TIMEOUT)

    rows = scenario.sql(
        "SELECT log_id, try_number, status, message, run_id, pid FROM cntl_af.cntl_cfg_log "
        "WHERE prcs_nm = %s AND business_date = %s ORDER BY log_id", (prcs_nm, BUSINESS_DATE))
    print("\ncntl_af.cntl_cfg_log rows (log_id | try_number | status | message | run_id | pid):\n"
          + "\n".join(" | ".join(map(str, row)) for row in rows))
    (task,) = [ti for ti in scenario.api.task_instances(dag_id, run_id) if ti["task_id"] == "run_notebook"]
    print(f"Airflow task instance run_notebook: state {task['state']}, try {task['try_number']}")
    killed_pid = int(scenario.marker.with_name(scenario.marker.name + ".killed").read_text())

    assert state == "success", scenario.story()
    assert (task["state"], task["try_number"]) == ("success", 2)
    assert [(row[1], row[2]) for row in rows] == [(1, "FAILED"), (2, "SUCCESS")]
    assert rows[0][3].startswith("attempt abandoned")
    assert rows[0][5] == killed_pid  # the first row is the killed task process's
    assert scenario.executions() == {"victim": 2}
