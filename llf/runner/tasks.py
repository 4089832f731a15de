"""What the generated Airflow tasks call (see llf.dagbuild.callables): the runner's whole surface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llf.runner.process import dependencies_to_trigger, run_process
from llf.runner.stream import mark_stale_stream_runs_finished

__all__ = ["dependencies_to_trigger", "on_task_killed", "run_process"]


def on_task_killed(context: Mapping[str, Any]) -> None:
    """Failure callback: close the RUNNING rows of this DAG run whose worker is gone.

    Airflow calls DAG-level failure callbacks in the dag-processor even when the task process was
    SIGKILLed, so this runs where the killed worker cannot.
    """
    # Sweeps every abandoned attempt (this run's among them), then the stream rows left open by them.
    mark_stale_stream_runs_finished()
