"""Drill: the worker is SIGKILLed mid-notebook, then Airflow retries the task (no callback in between).

The dead attempt's row is still RUNNING when the retry starts; the retry holds the run lock of the
same process and date, so it knows that row is dead, closes it FAILED and runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from llf.airflow_api import poll
from llf.context import RunContext
from llf.runner.tasks import run_process
from tests.drills.conftest import kill_if_alive, log_rows, run_context

REPO_ROOT = Path(__file__).resolve().parents[2]
# A worker of its own, as Airflow's task process is: run_process for the context given as JSON.
WORKER = (
    "import sys\n"
    "from llf.context import RunContext\n"
    "from llf.runner.tasks import run_process\n"
    "run_process(RunContext.model_validate_json(sys.argv[1]))"
)


def killed_mid_notebook(registry, group, markers, reap) -> RunContext:
    """Try 1 of process p in a worker of its own, SIGKILLed mid-notebook: no finally, no callback, no row update;
    its kernel is killed too (the node is gone). Returns try 1's context."""
    registry.process(group, "p", notebook="sleep_once.ipynb", params=markers.params, retries=1)
    first_try = run_context("p", try_number=1)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, first_try.model_dump_json()], cwd=REPO_ROOT)
    kernel = markers.kernel_pid()
    reap(kernel)
    worker.kill()
    worker.wait()
    kill_if_alive(kernel)
    return first_try


def test_given_a_worker_sigkilled_mid_notebook_when_the_task_is_retried_then_the_dead_try_fails_and_the_retry_succeeds(
    registry, group, markers, sql, reap
):
    first_try = killed_mid_notebook(registry, group, markers, reap)
    running_before_retry = log_rows(sql, "p")
    run_process(first_try.model_copy(update={"try_number": 2}))

    assert [(t, s) for t, s, _ in running_before_retry] == [(1, "RUNNING")]
    rows = log_rows(sql, "p")
    print("\n" + "\n".join(" | ".join(map(str, row)) for row in rows))
    assert [(t, s) for t, s, _ in rows] == [(1, "FAILED"), (2, "SUCCESS")]
    assert rows[0][2].startswith("attempt abandoned")
    assert markers.finished.exists()


def _outputs(sql) -> list[tuple]:
    return [tuple(row) for row in sql("SELECT try_number, output_path IS NOT NULL FROM cntl_af.cntl_cfg_log "
                                      "WHERE prcs_nm = 'p' ORDER BY log_id")]


def _copied_notebook(lake_dir: Path, context: RunContext) -> Path:
    from llf.services.lake.runs import notebook_key, run_folder

    return lake_dir / notebook_key(run_folder(context), context.prcs_nm)


def test_given_a_worker_sigkilled_mid_notebook_when_its_row_is_swept_then_it_links_the_notebook_as_far_as_it_ran(
    registry, group, markers, sql, reap, lake_dir
):
    # given a worker SIGKILLed mid-notebook, after the runner copied the running notebook to the lake (runner.mirror)
    registry.process(group, "p", notebook="sleep_once.ipynb", params=markers.params, retries=1)
    first_try = run_context("p", try_number=1)
    copied = _copied_notebook(lake_dir, first_try)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, first_try.model_dump_json()], cwd=REPO_ROOT)
    reap(markers.kernel_pid())
    assert poll(lambda: copied.exists() or None, timeout=30), "the running notebook never reached the lake"
    worker.kill()
    worker.wait()
    kill_if_alive(markers.kernel_pid())

    # when the retry sweeps the dead try's row and runs
    run_process(first_try.model_copy(update={"try_number": 2}))

    # then the dead try's link opens its own folder (try-1), whose notebook ran as far as the sleeping cell; the
    # retry links its own folder
    links = [row[0] for row in sql("SELECT output_path FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p' ORDER BY log_id")]
    assert len(links) == 2 and links[0] != links[1] and "/try-1/" in links[0]
    assert copied.parent.as_uri() + "/" == links[0]
    cells = nbformat.read(copied, as_version=4).cells
    injected = next(cell for cell in cells if "injected-parameters" in cell.metadata.get("tags", []))
    assert injected.execution_count is not None and str(markers.started) in injected.source


def test_given_a_worker_sigkilled_before_its_notebook_reached_the_lake_when_its_row_is_swept_then_it_links_nothing(
    registry, group, markers, sql, reap, lake_dir
):
    # given a worker SIGKILLed mid-notebook whose notebook never reached the lake (its copy removed, as when the
    # kill comes before the first copy): its RUNNING row named where the outputs would go, nothing is there
    first_try = killed_mid_notebook(registry, group, markers, reap)
    copied = _copied_notebook(lake_dir, first_try)
    copied.unlink(missing_ok=True)
    assert _outputs(sql) == [(1, True)]

    # when the retry sweeps the dead try's row and runs
    run_process(first_try.model_copy(update={"try_number": 2}))

    # then the dead try links nothing (a link would open nothing), the retry its own notebook
    assert _outputs(sql) == [(1, False), (2, True)]


def test_given_a_worker_killed_after_storing_when_its_row_is_swept_then_its_link_opens_the_outputs(
    registry, group, markers, sql, lake_dir
):
    # given an attempt whose outputs reached the lake, and whose worker died before writing its final status
    from llf.runner.tasks import mark_stale_stream_runs_finished
    from llf.services.lake.runs import notebook_key, run_folder

    registry.process(group, "p", notebook="sleep_once.ipynb", params=markers.params)
    context = run_context("p", try_number=1)
    folder = run_folder(context)
    stored = lake_dir / notebook_key(folder, "p")
    stored.parent.mkdir(parents=True)
    stored.write_text("{}", encoding="utf-8")
    sql("INSERT INTO cntl_af.cntl_cfg_log (strem_nm, prcs_nm, business_date, run_id, try_number, status, message, "
        "output_path) VALUES ('s', 'p', %s, %s, 1, 'RUNNING', 'running', %s)",
        (context.business_date, context.run_id, (lake_dir / folder).as_uri() + "/"))

    # when a sweep closes it (no session holds its run lock)
    mark_stale_stream_runs_finished()

    # then it ends FAILED "attempt abandoned", its link kept: it opens what the attempt stored
    rows = sql("SELECT status, message, output_path FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'")
    assert [(status, message.startswith("attempt abandoned")) for status, message, _ in rows] == [("FAILED", True)]
    assert rows[0][2] == (lake_dir / folder).as_uri() + "/"
