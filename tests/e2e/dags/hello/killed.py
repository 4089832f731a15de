"""Harness proof: what Airflow does when a task's process, or its supervisor too, is SIGKILLed.

The run's conf says which process dies (`victim`: "task" or "supervisor") and the folder where the
task's and the DAG's on_failure_callback leave a file each (`markers`), so a test sees which ran.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from airflow.sdk import dag, task


def _mark(level: str):
    def on_failure(context) -> None:
        (Path(context["dag_run"].conf["markers"]) / level).write_text("on_failure_callback ran")

    return on_failure


@dag(dag_id="e2e_killed", schedule=None, catchup=False, tags=["e2e"], on_failure_callback=_mark("dag"))
def killed():
    @task(on_failure_callback=_mark("task"), retries=0)
    def die(**context) -> None:
        if context["dag_run"].conf["victim"] == "supervisor":
            os.kill(os.getppid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    die()


killed()
