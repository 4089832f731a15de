"""A stream DAG's process tasks run for real (StreamProcess.execute, real kernels, the embedded PostgreSQL):
what a run accounts for, what bounds its tasks, and what its fallback to a process DAG says when it cannot wait.

The task context is the one Airflow's task runner hands execute(): the parsed DAG, its params, the run; the
task instance is a stand-in with the fields the callables read (dag_id, task_id, try_number, get_dag).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from llf.dagbuild import callables
from llf.exceptions import ConfigurationError
from tests.support.notebooks import write_notebook

RUN_ID = "scheduled__2026-03-14T06:30:00+00:00"
BUSINESS_DATE = "2026-03-14"


@pytest.fixture
def stream_s(registry, lake_dir, tmp_path, monkeypatch):
    """Stream `s`, group `g`, process `p1` running `ok.ipynb` (which only prints)."""
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "ok.ipynb", "print(greeting)")
    monkeypatch.setenv("LLF_NOTEBOOKS_DIR", str(notebooks))
    stream_id = registry.stream("s")
    group = registry.group(stream_id, "g")
    registry.process(group, "p1", notebook="ok.ipynb")
    return {"id": stream_id, "group": group}


def task_context(dag, task_id: str, *, paused: frozenset[str] = frozenset()) -> dict:
    """What the task runner hands a task of `dag`'s run RUN_ID (business date given as the run's param)."""
    return {
        "dag": dag,
        "params": {"business_date": BUSINESS_DATE, "full_rerun": False},
        "logical_date": dt.datetime(2026, 3, 14, 6, 30, tzinfo=dt.UTC),
        "dag_run": SimpleNamespace(conf={}, run_after=dt.datetime(2026, 3, 14, 6, 30, tzinfo=dt.UTC)),
        "run_id": RUN_ID,
        "ti": SimpleNamespace(dag_id=dag.dag_id, task_id=task_id, try_number=1,
                              get_dag=lambda dag_id: SimpleNamespace(dag_id=dag_id, is_paused=dag_id in paused)),
    }


def stream_row(sql) -> tuple[str, str, list[str]]:
    return sql("SELECT status, message, expected_prcs FROM cntl_af.cntl_cfg_log "
               "WHERE strem_nm = 's' AND prcs_nm IS NULL")[0]


def test_given_a_process_registered_after_the_dag_was_built_when_the_stream_runs_then_it_succeeds_without_it(
    stream_s, registry, dagbag, sql
):
    # Given the stream's DAG as the dag-processor built it, with p1 only
    dag = dagbag().dags["stream__s"]
    # and a process registered afterwards, before the run (the DAG that runs has no task for it)
    registry.process(stream_s["group"], "newcomer", notebook="ok.ipynb")

    # When the run's one process task runs, and the run's success callback follows
    dag.get_task("g.p1").execute(task_context(dag, "g.p1"))
    callables.stream_run_ended({"dag": dag, "run_id": RUN_ID}, strem_nm="s", timezone="UTC")

    # Then the run accounts for the DAG's own processes: SUCCESS, and no invented row for the newcomer
    status, message, expected = stream_row(sql)
    assert (status, expected) == ("SUCCESS", ["p1"]), message
    assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'newcomer'") == [(0,)]


def test_given_a_paused_process_dag_when_a_stream_task_must_fall_back_to_it_then_it_fails_saying_so_and_the_fix(
    stream_s, registry, dagbag, sql
):
    # Given p1 depending on q1 of another stream, not yet run for the date: p1's task must trigger process__p1
    q1 = registry.process(registry.group(registry.stream("other"), "og"), "q1", notebook="ok.ipynb")
    p1 = sql("SELECT prcs_id FROM cntl_af.cntl_cfg_prcs WHERE prcs_nm = 'p1'")[0][0]
    registry.depend(p1, q1)
    dag = dagbag().dags["stream__s"]

    # When process__p1 is paused (a run triggered now would stay queued, and the task wait for it forever)
    with pytest.raises(ConfigurationError) as raised:
        dag.get_task("g.p1").execute(task_context(dag, "g.p1", paused=frozenset({"process__p1"})))

    # Then the task fails at once with a sentence naming the DAG and the fix
    assert "process__p1 is paused: unpause it" in str(raised.value)
