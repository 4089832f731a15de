"""The run semantics (docs/explanation/run-semantics.md) against real kernels: every way a process is asked to run again
leaves the notebook alone once the log says its work is done, or final for the stream run."""

from __future__ import annotations

import pytest

from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from tests.runner.conftest import last_message, run_context, statuses
from tests.support.notebooks import write_notebook


@pytest.fixture
def counted(notebooks_dir, tmp_path):
    """`count.ipynb` adds one to a counter file each time it runs, and raises on the runs listed in `fail_on`."""
    counter = tmp_path / "count.txt"
    write_notebook(
        notebooks_dir / "count.ipynb",
        "import pathlib\np = pathlib.Path(counter)\nn = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\nif str(n) in fail_on.split(','):\n    raise ValueError(f'run {n} failed')",
        parameters=f"counter = {str(counter)!r}\nfail_on = ''",
    )
    return counter


def test_given_the_streams_attempt_failed_when_a_dependant_triggers_the_process_dag_then_it_fails_without_running(
    registry, stream, sql, counted
):
    # Q flakes: its first run fails, a second would succeed. The dependant D took the process-DAG fallback
    # while the stream's attempt of Q ran; that triggered run of Q takes the lock once the attempt FAILED.
    q = registry.process(stream["group"], "q", notebook="count.ipynb", params={"fail_on": "1"})
    d = registry.process(stream["group"], "d", params={"marker": str(counted.parent / "d.txt")})
    registry.depend(d, q)
    with pytest.raises(ProcessFailed, match="run 1 failed"):
        run_process(run_context("q", run_id="stream_run", strem_run_id="stream_run"))

    with pytest.raises(ProcessFailed, match="already ended FAILED in this stream run"):
        run_process(run_context("q", run_id="process_q_run", strem_run_id="stream_run", triggered_by="dependency"))

    assert counted.read_text() == "1"  # Q's notebook ran once in the stream run
    assert statuses(sql, "q") == ["FAILED", "FAILED"]
    with pytest.raises(ProcessFailed, match=r"blocked: .*q \(FAILED\)"):
        run_process(run_context("d", run_id="process_d_run", strem_run_id="stream_run", triggered_by="dependency"))
    assert not (counted.parent / "d.txt").exists()


def test_given_try_1_of_a_manual_run_succeeded_when_airflow_runs_try_2_then_the_notebook_does_not_run_again(
    registry, stream, sql, counted
):
    # Airflow declared try 1 dead after its notebook had succeeded (or the user cleared the task)
    registry.process(stream["group"], "p", notebook="count.ipynb")
    run_process(run_context("p", run_id="manual__1", triggered_by="manual", strem_nm=None))

    run_process(run_context("p", run_id="manual__1", triggered_by="manual", strem_nm=None, try_number=2))

    assert counted.read_text() == "1"
    assert statuses(sql, "p") == ["SUCCESS", "SKIPPED"]
    assert "try 1 of this run already succeeded" in last_message(sql, "p")


def test_given_a_process_done_for_the_date_when_its_dependency_later_fails_and_recovers_then_no_trigger_reruns_it(
    registry, stream, sql, counted, notebooks_dir
):
    # given P (depends on Q) done for the date in stream run S1: Q, then P, SUCCESS. Then Q's newest attempt fails
    # (a manual rerun of it), while dependants of P in two stream runs still trigger P's process DAG.
    write_notebook(notebooks_dir / "flaky_q.ipynb", "if fail:\n    raise ValueError('q failed')",
                   parameters="fail = False")
    q = registry.process(stream["group"], "q", notebook="flaky_q.ipynb")
    p = registry.process(stream["group"], "p", notebook="count.ipynb")
    registry.depend(p, q)
    run_process(run_context("q", run_id="s1", strem_run_id="s1"))
    run_process(run_context("p", run_id="s1", strem_run_id="s1"))
    sql("UPDATE cntl_af.cntl_cfg_prcs SET params = '{\"fail\": true}' WHERE prcs_nm = 'q'")
    with pytest.raises(ProcessFailed, match="q failed"):
        run_process(run_context("q", run_id="manual__q", triggered_by="manual", strem_nm=None))

    # when a dependant in another stream's run S2 triggers P while Q's newest attempt is FAILED
    run_process(run_context("p", run_id="process_p_1", strem_nm="t", strem_run_id="s2", triggered_by="dependency"))
    # and, once Q succeeded again, a dependant of S1 triggers P
    sql("UPDATE cntl_af.cntl_cfg_prcs SET params = '{\"fail\": false}' WHERE prcs_nm = 'q'")
    run_process(run_context("q", run_id="manual__q2", triggered_by="manual", strem_nm=None))
    run_process(run_context("p", run_id="process_p_2", strem_run_id="s1", triggered_by="dependency"))

    # then P's work for the date stands: both triggers SKIPPED it (no BLOCKED row hides its SUCCESS), it ran once
    assert counted.read_text() == "1"
    assert statuses(sql, "p") == ["SUCCESS", "SKIPPED", "SKIPPED"]
