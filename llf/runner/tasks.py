"""What the generated Airflow tasks call (see llf.dagbuild.callables): the runner's whole surface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llf.context import RunContext
from llf.control.repository import process_registration
from llf.db import reused_connections
from llf.runner.process import dependencies_to_trigger, run_process
from llf.runner.stream import mark_stale_stream_runs_finished, open_stream_run
from llf.runner.timeline import Timeline
from llf.settings import control_db_url

__all__ = ["dependencies_to_trigger", "on_task_killed", "run_process", "run_stream_process"]


def run_stream_process(context: RunContext, timeline: Timeline | None = None) -> bool:
    """A stream task's work: open the stream run's row, then run the process; False (and nothing run)
    when a dependency needs a run first, which the stream task then triggers and awaits."""
    timeline = timeline or Timeline()
    assert context.strem_nm is not None and context.strem_run_id is not None  # a stream task's context has both
    with reused_connections():  # run_process closes them before the notebook runs
        open_stream_run(context.strem_nm, context.business_date, context.strem_run_id)
        timeline.mark("stream row opened")
        registration = process_registration(control_db_url(), context.prcs_nm)
        timeline.mark("registration read")
        waiting = dependencies_to_trigger(context, registration)
        timeline.mark("dependencies to trigger")
        if waiting:
            return False
        run_process(context, timeline, registration)
    return True


def on_task_killed(context: Mapping[str, Any]) -> None:
    """Failure callback: close the RUNNING rows of this DAG run whose worker is gone.

    Airflow calls DAG-level failure callbacks in the dag-processor even when the task process was
    SIGKILLed, so this runs where the killed worker cannot.
    """
    # Sweeps every abandoned attempt (this run's among them), then the stream rows left open by them.
    mark_stale_stream_runs_finished()
