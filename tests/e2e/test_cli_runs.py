"""`llf run --wait` and `llf backfill` against the session's real Airflow: triggered through its REST API with
the conf the stream DAG reads, followed through the run log, told per process and per date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from llf.airflow_api import AirflowClient
from llf.cli import main
from llf.local.postgres import EmbeddedPostgres
from tests.e2e.scenarios.notebooks import FAIL, SUCCEED
from tests.e2e.scenarios.streams import Scenario, Step
from tests.support.registry import Registry, sql_runner

NewScenario = Callable[[str], Scenario]
DAY = dt.date(2026, 4, 1)


def dates_logged(scenario: Scenario) -> list[str]:
    """The business dates this stream's processes have rows for, in order."""
    rows = scenario.sql("SELECT DISTINCT business_date::text FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s "
                        "AND prcs_nm IS NOT NULL ORDER BY 1", (scenario.name,))
    return [day for (day,) in rows]


def test_given_a_stream_when_llf_run_waits_then_each_process_lands_the_table_shows_them_and_it_exits_0(
    new_scenario: NewScenario, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = new_scenario("cli_run")
    scenario.register({"g1": [Step("a")], "g2": [Step("b")]})

    code = main(["run", "--stream", scenario.name, "--date", str(DAY), "--wait"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{scenario.name} {DAY}: run manual__" in out and "/dags/stream__" in out
    assert f"[1/2] {scenario.prcs_nm('a')}: SUCCESS" in out and f"[2/2] {scenario.prcs_nm('b')}: SUCCESS" in out
    assert f"llf status for {scenario.name} on {DAY}" in out
    assert scenario.executions() == {"a": 1, "b": 1}
    assert dates_logged(scenario) == [str(DAY)]


def test_given_a_stream_when_llf_run_without_wait_then_it_prints_the_run_and_where_to_watch_and_returns(
    new_scenario: NewScenario, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = new_scenario("cli_nowait")
    scenario.register({"g1": [Step("a")]})

    code = main(["run", "--stream", scenario.name, "--date", str(DAY)])

    out = capsys.readouterr().out
    assert code == 0, out
    run_id = out.split(": run ", 1)[1].split()[0]
    assert f"/dags/{scenario.dag_id}/runs/" in out
    assert scenario.wait(run_id) == "success"  # the run id printed is the run Airflow ran
    assert dates_logged(scenario) == [str(DAY)]


def test_given_a_failing_date_when_backfilled_then_it_stops_there_and_once_fixed_the_same_command_continues(
    new_scenario: NewScenario, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = new_scenario("cli_backfill")
    scenario.register({"g1": [Step("a", FAIL)]})
    backfill = ["backfill", "--stream", scenario.name, "--from", str(DAY), "--to", str(DAY + dt.timedelta(days=1))]

    failed = main(backfill)
    failed_out = capsys.readouterr().out
    dates_after_failure = dates_logged(scenario)
    scenario.write_notebook("a", SUCCEED)
    resumed = main(backfill)
    resumed_out = capsys.readouterr().out
    executions_after_resume = scenario.executions()
    again = main(backfill)
    again_out = capsys.readouterr().out

    assert failed == 1, failed_out
    assert f"{scenario.name} {DAY}: FAILED" in failed_out and "ValueError: no input rows" in failed_out
    assert f"Backfill stopped at {DAY}" in failed_out and "run the same command again" in failed_out
    assert f"{DAY + dt.timedelta(days=1)}: run" not in failed_out and dates_after_failure == [str(DAY)]
    assert resumed == 0, resumed_out
    assert f"{scenario.name} {DAY}: SUCCESS" in resumed_out
    assert f"{scenario.name} {DAY + dt.timedelta(days=1)}: SUCCESS" in resumed_out
    assert "2 date(s) run, 0 skipped" in resumed_out
    assert again == 0, again_out
    assert again_out.count("already SUCCESS for every process, skipped") == 2 and "0 date(s) run" in again_out
    assert scenario.executions() == executions_after_resume == {"a": 3}
    assert dates_logged(scenario) == [str(DAY), str(DAY + dt.timedelta(days=1))]


def test_given_a_stream_airflow_never_parsed_when_llf_run_then_exit_2_naming_the_dag(
    postgres: EmbeddedPostgres, cli_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # registered in a control DB of its own, which the session's Airflow does not read: never parsed there
    elsewhere = postgres.fresh_database()
    with sql_runner(elsewhere) as sql:
        registry = Registry(sql)
        registry.process(registry.group(registry.stream("unparsed"), "g"), "p")
    monkeypatch.setenv("LLF_CONTROL_DB_URL", elsewhere)

    code = main(["run", "--stream", "unparsed", "--date", str(DAY), "--wait"])

    captured = capsys.readouterr()
    assert code == 2
    assert "has no DAG stream__unparsed" in captured.err and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_given_a_paused_stream_dag_when_llf_run_then_exit_2_saying_to_unpause_it(
    new_scenario: NewScenario, airflow_api: AirflowClient, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = new_scenario("cli_paused")
    scenario.register({"g1": [Step("a")]})
    airflow_api.http.patch(f"/dags/{scenario.dag_id}", json={"is_paused": True}).raise_for_status()
    try:
        code = main(["run", "--stream", scenario.name, "--date", str(DAY)])
    finally:
        airflow_api.unpause(scenario.dag_id)

    captured = capsys.readouterr()
    assert code == 2
    assert f"DAG {scenario.dag_id} is paused in Airflow: unpause it" in captured.err
    assert scenario.executions() == {}


def test_given_a_run_airflow_finished_whose_row_stayed_running_when_llf_status_then_it_is_closed_by_airflows_verdict(
    new_scenario: NewScenario, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a run Airflow finished in which some process never ran (fail policy STOP), whose stream row is RUNNING
    # again as if its end had never been recorded (the callback lost with its dag-processor, the stream deactivated
    # since): the row's own evidence cannot tell the run is over, and no later run will close it
    scenario = new_scenario("cli_lost_callback")
    scenario.register({"g1": [Step("a", FAIL)], "g2": [Step("b")]}, fail_policy="STOP")
    assert main(["run", "--stream", scenario.name, "--date", str(DAY), "--wait"]) == 1
    scenario.sql("UPDATE cntl_af.cntl_cfg_log SET status = 'RUNNING', end_ts = NULL, message = 'running' "
                 "WHERE strem_nm = %s AND prcs_nm IS NULL", (scenario.name,))
    scenario.sql("DELETE FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND prcs_nm = %s",
                 (scenario.name, scenario.prcs_nm("b")))  # the SKIPPED row the lost callback would have written
    capsys.readouterr()

    # when `llf status` reads the log
    code = main(["status", "--stream", scenario.name])

    # then Airflow's verdict closes the row, from its processes' rows, and the user is told
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err  # a is FAILED
    assert "closed 1 stream run row(s) left RUNNING after Airflow finished the run" in captured.err
    rows = scenario.sql("SELECT status, end_ts IS NOT NULL FROM cntl_af.cntl_cfg_log "
                        "WHERE strem_nm = %s AND prcs_nm IS NULL", (scenario.name,))
    assert [tuple(row) for row in rows] == [("FAILED", True)]
    skipped = scenario.sql("SELECT status FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND prcs_nm = %s",
                           (scenario.name, scenario.prcs_nm("b")))
    assert [tuple(row) for row in skipped] == [("SKIPPED",)]  # recorded as the run's end records it
