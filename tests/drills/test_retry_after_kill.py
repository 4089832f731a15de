"""Drill: the worker is SIGKILLed mid-notebook, then Airflow retries the task (no callback in between).

The dead attempt's row is still RUNNING when the retry starts; the retry holds the run lock of the
same process and date, so it knows that row is dead, closes it FAILED and runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_given_a_worker_sigkilled_mid_notebook_when_the_task_is_retried_then_the_dead_try_fails_and_the_retry_succeeds(
    registry, group, markers, sql, reap
):
    registry.process(group, "p", notebook="sleep_once.ipynb", params=markers.params, retries=1)
    first_try = run_context("p", try_number=1)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, first_try.model_dump_json()], cwd=REPO_ROOT)
    kernel = markers.kernel_pid()
    reap(kernel)

    worker.kill()  # SIGKILL: no finally, no callback, no row update
    worker.wait()
    kill_if_alive(kernel)  # the node is gone: its kernel too
    running_before_retry = log_rows(sql, "p")
    run_process(first_try.model_copy(update={"try_number": 2}))

    assert [(t, s) for t, s, _ in running_before_retry] == [(1, "RUNNING")]
    rows = log_rows(sql, "p")
    print("\n" + "\n".join(" | ".join(map(str, row)) for row in rows))
    assert [(t, s) for t, s, _ in rows] == [(1, "FAILED"), (2, "SUCCESS")]
    assert rows[0][2].startswith("attempt abandoned")
    assert markers.finished.exists()
