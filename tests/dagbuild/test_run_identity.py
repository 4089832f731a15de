"""Run identity comes from the scheduler, not from the caller (issue 26, exploit 4).

A process DAG run is filed under a stream run only when the trigger that started it (a stream task's fallback,
or a dependant's dependency task) minted a run token for exactly that run; a conf naming a stream run without
one is refused before any row is written. A dependency of another stream is filed under its own stream, linked
to the stream run that asked for it.

The tasks run for real (the generated operators' execute, the callables, real kernels, the embedded PostgreSQL);
what Airflow would do with a trigger (create the run with the id and conf the operator chose) is done by hand
from the DagRunTriggerException the operator raises, which is how the Task SDK hands a trigger to Airflow.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, DagRunTriggerException

from llf.dagbuild import callables
from llf.services.lake.runs import run_of
from tests.support.notebooks import write_notebook

STREAM_RUN = "scheduled__2026-03-14T06:30:00+00:00"
DAY = "2026-03-14"


@pytest.fixture
def streams(registry, lake_dir, notebooks_dir, sql):
    """Stream `s` (process p1) and stream `t` (process q1); p1 depends on q1; both run `ok.ipynb`."""
    write_notebook(notebooks_dir / "ok.ipynb", "print('ok')")
    p1 = registry.process(registry.group(registry.stream("s"), "g"), "p1", notebook="ok.ipynb", retries=2)
    q1 = registry.process(registry.group(registry.stream("t"), "tg"), "q1", notebook="ok.ipynb")
    registry.depend(p1, q1)
    return {"p1": p1, "q1": q1}


def task_context(dag_id: str, task_id: str, run_id: str, conf: dict | None = None, *, try_number: int = 1,
                 dag: Any = None) -> dict:
    """What Airflow's task runner hands a task of run `run_id` of `dag_id`."""
    return {
        "dag": dag or SimpleNamespace(tasks=[]),
        "params": {"business_date": DAY, "full_rerun": False},
        "logical_date": None,
        "dag_run": SimpleNamespace(conf=conf, run_after=dt.datetime(2026, 3, 14, 6, 30, tzinfo=dt.UTC)),
        "run_id": run_id,
        "ti": SimpleNamespace(dag_id=dag_id, task_id=task_id, try_number=try_number,
                              get_dag=lambda dag_id: SimpleNamespace(dag_id=dag_id, is_paused=False)),
    }


def triggered(operator: Any, context: dict) -> DagRunTriggerException:
    """The run the operator asks Airflow to create (its id and conf)."""
    with pytest.raises(DagRunTriggerException) as trigger:
        operator.execute(context)
    return trigger.value


def run_notebook(prcs_nm: str, run_id: str, conf: dict | None, *, try_number: int = 1) -> None:
    callables.run_notebook(prcs_nm=prcs_nm, timezone="UTC", **task_context(
        f"process__{prcs_nm}", "run_notebook", run_id, conf, try_number=try_number))


def rows(sql, prcs_nm: str) -> list[tuple]:
    return sql("SELECT strem_nm, strem_run_id, rqst_strem_nm, rqst_strem_run_id, status, run_id, output_path "
               "FROM cntl_af.cntl_cfg_log WHERE prcs_nm = %s ORDER BY log_id", (prcs_nm,))


def forged(strem_nm: str = "s", strem_run_id: str = STREAM_RUN, **more: Any) -> dict:
    return {"business_date": DAY, "full_rerun": False, "strem_nm": strem_nm, "strem_run_id": strem_run_id,
            "triggered_by": "stream"} | more


def test_given_a_conf_naming_another_streams_run_without_a_token_when_the_process_dag_runs_then_it_is_refused(
    streams, sql
):
    # Given a user allowed to trigger process__q1 (stream t), who names stream s's run in the conf
    # When its notebook task runs
    with pytest.raises(AirflowFailException) as refused:
        run_notebook("q1", "manual__forged", forged())

    # Then it fails, without a retry, with a sentence naming the process and why; nothing is filed anywhere
    assert "q1: the run's conf names stream run" in str(refused.value)
    assert "carries no run token" in str(refused.value)
    assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_log") == [(0,)]


def test_given_a_stream_tasks_fallback_when_its_process_dag_runs_then_the_attempt_is_filed_under_the_stream_run(
    streams, sql, dagbag
):
    # Given stream s's run, whose task for p1 must fall back to process__p1 (q1 of stream t has not run)
    bag = dagbag()
    stream_dag, p1_dag = bag.dags["stream__s"], bag.dags["process__p1"]
    fallback = triggered(stream_dag.get_task("g.p1"), task_context("stream__s", "g.p1", STREAM_RUN, {}, dag=stream_dag))
    assert (fallback.trigger_dag_id, fallback.conf["strem_nm"], fallback.conf["strem_run_id"]) == (
        "process__p1", "s", STREAM_RUN)
    assert fallback.conf["run_token"]  # minted by the trigger, for this very run id
    assert sql("SELECT count(*) FROM cntl_af.cntl_run_token WHERE token_sha256 = encode(sha256(%s::bytea), 'hex')",
               (fallback.conf["run_token"],)) == [(1,)]

    # When process__p1's dependency task starts q1, and q1 then p1 run
    dependency = triggered(p1_dag.get_task("dependency__q1"),
                           task_context("process__p1", "dependency__q1", fallback.dag_run_id, fallback.conf))
    run_notebook("q1", dependency.dag_run_id, dependency.conf)
    run_notebook("p1", fallback.dag_run_id, fallback.conf)

    # Then q1 is filed under its own stream t, linked to the run of s that asked for it, its notebook under t
    [(strem, strem_run, asked_by, asked_by_run, status, run_id, output)] = rows(sql, "q1")
    assert (strem, strem_run, asked_by, asked_by_run, status, run_id) == (
        "t", None, "s", STREAM_RUN, "SUCCESS", dependency.dag_run_id)
    assert "/runs/t/q1/" in output
    assert run_of(output[output.index("runs/t/"):]).strem_nm == "t"  # what the UI authorises readers by
    # and p1 under s's run, which it closes (the run accounts for its own process)
    [(strem, strem_run, _, _, status, _, output)] = rows(sql, "p1")
    assert (strem, strem_run, status) == ("s", STREAM_RUN, "SUCCESS")
    assert "/runs/s/p1/" in output
    assert sql("SELECT status FROM cntl_af.cntl_cfg_log WHERE strem_nm = 's' AND prcs_nm IS NULL") == [("SUCCESS",)]

    # and a retry of the same run still passes (its earlier try succeeded: SKIPPED, no new notebook run)
    run_notebook("p1", fallback.dag_run_id, fallback.conf, try_number=2)
    assert [row[4] for row in rows(sql, "p1")] == ["SUCCESS", "SKIPPED"]


def fallback_token(dagbag) -> DagRunTriggerException:
    stream_dag = dagbag().dags["stream__s"]
    return triggered(stream_dag.get_task("g.p1"), task_context("stream__s", "g.p1", STREAM_RUN, {}, dag=stream_dag))


@pytest.mark.parametrize("misuse", ["another process", "another run", "another date", "another stream run"])
def test_given_a_token_minted_for_something_else_when_presented_then_the_run_is_refused(
    streams, sql, dagbag, misuse
):
    # Given the token stream s's task minted for its run of process__p1
    fallback = fallback_token(dagbag)
    conf, prcs_nm, run_id = dict(fallback.conf), "p1", fallback.dag_run_id
    # When it is presented elsewhere: copied into a run of another process, into another run of p1 (a user
    # who read the conf), for another date, or with the conf pointing at another stream run
    if misuse == "another process":
        prcs_nm = "q1"
    elif misuse == "another run":
        run_id = "manual__copied"
    elif misuse == "another date":
        conf["business_date"] = "2026-03-13"
    else:
        conf["strem_run_id"] = "scheduled__2026-03-13T06:30:00+00:00"

    with pytest.raises(AirflowFailException) as refused:
        run_notebook(prcs_nm, run_id, conf)

    # Then it is refused, and no attempt is filed (under s or anywhere)
    assert "run token" in str(refused.value)
    assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_log WHERE prcs_nm IS NOT NULL") == [(0,)]


def test_given_a_forged_conf_when_the_process_dags_dependency_task_runs_then_it_mints_nothing(streams, sql, dagbag):
    # Given a run of process__p1 whose conf names stream s's run with no token
    p1_dag = dagbag().dags["process__p1"]

    # When its dependency task runs, Then it refuses to vouch for a run of q1 on s's behalf
    with pytest.raises(AirflowFailException, match="carries no run token"):
        p1_dag.get_task("dependency__q1").execute(task_context("process__p1", "dependency__q1", "manual__x", forged()))
    assert sql("SELECT count(*) FROM cntl_af.cntl_run_token") == [(0,)]


def test_given_a_plain_manual_trigger_when_the_process_dag_runs_then_it_runs_standalone_as_before(streams, sql):
    # Given q1 triggered by hand, with no conf (or one with no stream fields)
    # When its notebook task runs
    run_notebook("q1", "manual__by_hand", None)
    run_notebook("q1", "manual__by_hand_2", {"business_date": DAY, "full_rerun": True})

    # Then it ran on its own, twice (a manual run reruns), filed under no stream
    assert [row[:5] for row in rows(sql, "q1")] == [(None, None, None, None, "SUCCESS")] * 2
    assert all("/runs/_no_stream/q1/" in row[6] for row in rows(sql, "q1"))
