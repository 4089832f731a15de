"""What the tasks hand the runner: business date, conf of process runs, the RunContext."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from llf.context import RunContext
from llf.control import log as run_log
from llf.dagbuild.callables import business_date_of, process_run_conf, run_context_of, run_in_stream, run_notebook
from llf.exceptions import ConfigurationError
from llf.runner.tasks import trigger_for_dependency

RUN_AFTER = dt.datetime(2024, 5, 2, 22, 15, tzinfo=dt.UTC)


def context(conf=None, *, business_date="", full_rerun=False, logical_date=None):
    return {
        "params": {"business_date": business_date, "full_rerun": full_rerun},
        "logical_date": logical_date,
        "dag_run": SimpleNamespace(conf=conf, run_after=RUN_AFTER),
        "run_id": "manual__2024-05-02",
        "ti": SimpleNamespace(dag_id="process__report", task_id="run_notebook", try_number=2),
    }


def test_given_an_explicit_business_date_when_resolved_then_it_wins():
    moment = dt.datetime(2024, 5, 2, 23, 30, tzinfo=dt.UTC)
    assert business_date_of(context(business_date="2024-01-31", logical_date=moment), "UTC") == dt.date(
        2024, 1, 31)


def test_given_no_business_date_when_resolved_then_the_logical_date_in_the_schedule_time_zone():
    moment = dt.datetime(2024, 5, 2, 23, 30, tzinfo=dt.UTC)  # already May 3rd in Paris
    assert business_date_of(context(logical_date=moment), "Europe/Paris") == dt.date(2024, 5, 3)


def test_given_a_manual_run_without_logical_date_when_resolved_then_the_day_it_was_triggered_for_every_task():
    # run_after is fixed when the run is created, so tasks starting after midnight agree with earlier ones
    assert business_date_of(context(), "UTC") == dt.date(2024, 5, 2)
    assert business_date_of(context(), "Europe/Paris") == dt.date(2024, 5, 3)


def test_given_a_stream_run_when_it_triggers_processes_then_the_conf_names_stream_date_and_trigger():
    conf = process_run_conf(business_date=dt.date(2024, 5, 2), full_rerun=True, strem_nm="sales",
                            strem_run_id="scheduled__x", triggered_by="stream")
    assert conf == {"business_date": "2024-05-02", "full_rerun": True, "strem_nm": "sales",
                    "strem_run_id": "scheduled__x", "triggered_by": "stream"}


def test_given_the_stream_conf_when_the_process_runs_then_the_run_context_carries_it():
    conf = process_run_conf(business_date=dt.date(2024, 5, 2), full_rerun=True, strem_nm="sales",
                            strem_run_id="scheduled__x", triggered_by="stream")
    # Airflow lets dag_run.conf override the params of the same name
    run = run_context_of(context(conf, business_date="2024-05-02", full_rerun=True), prcs_nm="report",
                         timezone="UTC")
    assert (run.strem_nm, run.strem_run_id, run.triggered_by, run.full_rerun) == (
        "sales", "scheduled__x", "stream", True)
    # params stay empty here: the runner takes them from the registration it reads at run time
    assert (run.business_date, run.run_id, run.try_number, run.params) == (
        dt.date(2024, 5, 2), "manual__2024-05-02", 2, {})
    assert (run.dag_id, run.task_id) == ("process__report", "run_notebook")


def test_given_no_conf_when_the_process_runs_then_it_was_triggered_manually_outside_a_stream():
    run = run_context_of(context(None), prcs_nm="report", timezone="UTC")
    assert (run.triggered_by, run.strem_nm, run.strem_run_id) == ("manual", None, None)


@pytest.mark.parametrize("bad", ["2024-02-30", "2024-13-01", "tomorrow", "2024-2-3", "20240203", "2024-W05-6"])
def test_given_an_impossible_business_date_when_resolved_then_the_error_names_the_param_and_the_format(bad):
    with pytest.raises(ConfigurationError) as raised:
        business_date_of(context(business_date=bad), "UTC")

    message = str(raised.value)
    assert "business_date" in message and repr(bad) in message and "YYYY-MM-DD" in message


def test_given_an_impossible_business_date_when_a_stream_task_runs_then_it_fails_clearly_and_writes_no_row(
    control_db_url, registry, sql
):
    """No row on purpose: cntl_cfg_log rows are keyed by business date, and one written for another date (the
    logical date) would report a FAILED attempt of that date that never ran; the failed task carries the error."""
    registry.process(registry.group(registry.stream("sales"), "g"), "report")

    with pytest.raises(ConfigurationError, match="business_date param '2024-02-30' is not a date: expected YYYY-MM-DD"):
        run_in_stream(context(business_date="2024-02-30"), strem_nm="sales", prcs_nm="report", timezone="UTC")

    assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_log") == [(0,)]


def test_given_a_failed_dependency_when_the_process_dag_runs_then_blocked_fails_the_task_without_a_retry(
    control_db_url, registry, sql
):
    """A retry would only record BLOCKED again after retry_delay: the dependency's failure is already final."""
    group = registry.group(registry.stream("sales"), "g")
    upstream, report = registry.process(group, "upstream"), registry.process(group, "report", retries=2)
    registry.depend(report, upstream)
    run_log.mark_failed(control_db_url, RunContext(prcs_nm="upstream", business_date=dt.date(2024, 5, 2),
                                                   run_id="earlier"), "ValueError: no customers today")

    with pytest.raises(AirflowFailException, match=r"blocked: .*upstream \(FAILED\)"):
        run_notebook(prcs_nm="report", timezone="UTC", **context(business_date="2024-05-02"))

    assert sql("SELECT status FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'report'") == [("BLOCKED",)]


def test_given_a_failure_earlier_in_the_stream_run_when_a_dependant_triggers_the_process_then_it_fails_without_a_retry(
    control_db_url, registry, sql
):
    group = registry.group(registry.stream("sales"), "g")
    registry.process(group, "report", notebook="missing.ipynb", retries=2)
    in_stream = RunContext(strem_nm="sales", prcs_nm="report", business_date=dt.date(2024, 5, 2),
                           run_id="scheduled__x", strem_run_id="scheduled__x", triggered_by="stream")
    run_log.mark_failed(control_db_url, in_stream, "ValueError: no customers today")
    # the dependant's trigger mints the run and its token (a conf naming the stream run without one is refused)
    dependant = in_stream.model_copy(update={"prcs_nm": "dependant", "run_id": "manual__dependant"})
    trigger = trigger_for_dependency(dependant, "report")
    conf = process_run_conf(business_date=dt.date(2024, 5, 2), full_rerun=False, strem_nm="sales",
                            strem_run_id="scheduled__x", triggered_by="dependency", run_token=trigger.token)

    with pytest.raises(AirflowFailException, match="already ended FAILED in this stream run"):
        run_notebook(prcs_nm="report", timezone="UTC",
                     **context(conf, business_date="2024-05-02") | {"run_id": trigger.grant.run_id})

    assert sql("SELECT status FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'report' ORDER BY log_id") == [
        ("FAILED",), ("FAILED",)]


@pytest.mark.parametrize("overrides", ["True", "False"])
def test_given_a_trigger_conf_naming_the_date_when_airflow_lets_conf_override_params_or_not_then_the_run_uses_it(
    scenario, dagbag, monkeypatch, overrides
):
    """[core] dag_run_conf_overrides_params is read when Airflow builds the task's params (process_params, as
    its task runner does): off, the params keep their defaults and only dag_run.conf holds the trigger's date."""
    from airflow.sdk.definitions.param import process_params

    scenario("dependencies")
    dag = dagbag().dags["process__report"]
    monkeypatch.setenv("AIRFLOW__CORE__DAG_RUN_CONF_OVERRIDES_PARAMS", overrides)
    conf = process_run_conf(business_date=dt.date(2024, 1, 31), full_rerun=True, strem_nm="finance",
                            strem_run_id="scheduled__x", triggered_by="stream")
    run = context(conf) | {"params": process_params(dag, dag.get_task("run_notebook"), conf, suppress_exception=False)}

    resolved = run_context_of(run, prcs_nm="report", timezone="UTC")

    assert (resolved.business_date, resolved.full_rerun) == (dt.date(2024, 1, 31), True)


@pytest.mark.parametrize("task", ["process DAG", "stream DAG"])
def test_given_a_process_registering_a_connection_when_its_task_runs_then_airflow_resolves_it_for_the_notebook(
    task, registry, sql, notebooks_dir, lake_dir, tmp_path, monkeypatch
):
    """Both tasks hand the runner Airflow's lookup (llf.dagbuild.connections): the connection defined the way
    Airflow reads it here (AIRFLOW_CONN_<ID>) reaches the notebook as nb.connection."""
    from tests.support.notebooks import write_notebook

    monkeypatch.setenv("AIRFLOW_CONN_CRM_DB", '{"conn_type": "postgres", "host": "crm.example", "password": "pw-1x9"}')
    write_notebook(notebooks_dir / "crm.ipynb", "import pathlib\nfrom llf import notebook as nb\n"
                   "pathlib.Path(marker).write_text(nb.connection('crm_db').host)", parameters="marker = ''")
    registry.process(registry.group(registry.stream("sales"), "g"), "report", notebook="crm.ipynb",
                     params={"marker": str(tmp_path / "host.txt")})
    sql("UPDATE cntl_af.cntl_cfg_prcs SET conn_ids = '{crm_db}' WHERE prcs_nm = 'report'")

    if task == "process DAG":
        run_notebook(prcs_nm="report", timezone="UTC", **context(business_date="2024-05-02"))
    else:
        in_stream = context(business_date="2024-05-02") | {"dag": SimpleNamespace(tasks=[])}
        assert run_in_stream(in_stream, strem_nm="sales", prcs_nm="report", timezone="UTC") is None

    assert (tmp_path / "host.txt").read_text() == "crm.example"
    assert sql("SELECT status FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'report'") == [("SUCCESS",)]
