"""Pieces shared by stream and process DAGs: run params, tags, naming the row a build failed on.

The DAG ids are llf.control.model's (stream_dag_id, process_dag_id): Airflow-free, so the UI and the run log share them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, Param

from llf.control.model import Process, ProcessGroup, Snapshot

TAG_MAX_LENGTH = 100  # Airflow refuses longer tags


ROW_NOTE_PREFIX = "llf row: "


def note_row(error: BaseException, table: str, row: str) -> None:
    """Record on an exception raised while building from a row which row it was (llf.dagbuild.builder)."""
    error.add_note(f"{ROW_NOTE_PREFIX}{table} ({row})")


def noted_rows(error: BaseException) -> list[str]:
    """The rows note_row recorded on the exception, innermost first."""
    notes = getattr(error, "__notes__", None) or []
    return [note[len(ROW_NOTE_PREFIX):] for note in notes if note.startswith(ROW_NOTE_PREFIX)]


def run_params() -> dict[str, Param]:
    """The trigger form of every llf DAG; a stream passes both on to each process run it starts."""
    return {
        "business_date": Param(
            "",
            type="string",
            pattern=r"^(\d{4}-\d{2}-\d{2})?$",
            title="Business date",
            description="YYYY-MM-DD. Empty: the run's logical date, or today for a manual run.",
        ),
        "full_rerun": Param(
            False,
            type="boolean",
            title="Full rerun",
            description="Rerun processes already SUCCESS for this business date too.",
        ),
    }


def tag(kind: str, name: str) -> str:
    return f"{kind}:{name}"[:TAG_MAX_LENGTH]


START_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


# What every llf DAG shares beyond Airflow's configured defaults (read once, by the DAG template).
DAG_DEFAULTS: dict[str, Any] = {"start_date": START_DATE, "catchup": False}


def add_run_params(dag: DAG) -> DAG:
    """Give the finished DAG its run params.

    Added last, in place into the DAG's own ParamsDict: that skips re-validating known-good defaults,
    and Airflow merges the DAG's params into each task's at run time.
    """
    dag.params.update(run_params())
    return dag


def lane_count(group: ProcessGroup, processes: list[Process]) -> int:
    """How many lanes a stream runs the group's processes on (process i on lane i mod this, see
    llf.dagbuild.stream_dag): max_parallel, but no more lanes than processes."""
    return max(1, min(group.max_parallel, len(processes)))


def routing(snapshot: Snapshot, process: Process) -> dict[str, Any]:
    """Where Airflow runs a task that runs the process's notebook (llf/control/sql/0026): the Celery queue of
    the process (its own, else its group's) and the slots of its pool. No pool registered: the argument is
    left out, so the task keeps Airflow's default_pool as the constructor would set it. Only tasks running a
    notebook take these; gates and finish_stream stay on the default queue and pool, costing no LLM slot."""
    where: dict[str, Any] = {"queue": snapshot.queue_of(process), "pool_slots": process.pool_slots}
    if process.pool_nm is not None:
        where["pool"] = process.pool_nm
    return where
