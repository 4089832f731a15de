"""The stream-level log row: opened by the first process task of a run, closed with the outcome of its processes.

A run accounts for the processes it expected when its row opened (cntl_cfg_log.expected_prcs): the process
tasks of the DAG that runs, as its tasks and callbacks name them, never the registrations of the moment. A
process registered after the DAG was built has no task in the run: it is neither waited for nor recorded
FAILED by it. The last process to end closes the row, or the stream DAG's callbacks do; when
neither can (a callback lost with its dag-processor, a run deleted), the row is stale and
`mark_stale_stream_runs_finished` closes it the same way: at every stream run's start and end, and
wherever abandoned process attempts are swept (`llf status`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from llf.context import RunContext, StreamRunKey
from llf.control import log as run_log
from llf.control import stream_runs
from llf.control.model import FAILING, LogEntry, Status, process_dag_id, stream_dag_id
from llf.control.repository import stream_processes
from llf.runner.outputs import outputs_stored

log = logging.getLogger(__name__)

# Airflow's final states of a DAG run (DagRunState), as its REST API spells them.
AIRFLOW_FINISHED = frozenset({"success", "failed"})


def open_stream_run(url: str, key: StreamRunKey, expected: Sequence[str]) -> None:
    """Mark the stream run RUNNING; every process task of the run calls this, the first one opens the row
    (recording `expected`, the processes of the DAG that runs) and closes the rows earlier runs of the
    stream left open."""
    if stream_runs.mark_stream_running(url, key, expected):
        _sweep_stream(url, key.strem_nm)


def _sweep_stream(url: str, strem_nm: str) -> None:
    """mark_stale_stream_runs_finished for one stream; a failure is logged, not raised: it is about other
    runs than the caller's, and the next start, end or `llf status` sweeps again."""
    try:
        mark_stale_stream_runs_finished(url, strem_nm)
    except Exception:  # logged: the caller's own run goes on
        log.exception("could not close the stale stream rows of %s; the next sweep will", strem_nm)


def _expected_processes(url: str, key: StreamRunKey) -> list[str]:
    """The processes the run waits for: those recorded when its row opened (none for a row opened before
    llf recorded them: the processes with rows in the run then tell its outcome alone)."""
    row = stream_runs.stream_run_row(url, key)
    return list(row.expected_prcs or []) if row is not None else []


def finish_stream(url: str, key: StreamRunKey, expected: Sequence[str] = ()) -> str | None:
    """Close the stream run's row with its outcome; return the failure message, or None when it succeeded.

    `expected`: the run's processes, for a row no process task got as far as opening (the callback's DAG
    knows them). Then close what earlier runs of the stream left open (mark_stale_stream_runs_finished).
    """
    if stream_runs.stream_run_row(url, key) is None:  # no process task got as far as opening it
        stream_runs.mark_stream_running(url, key, expected)
    with stream_runs.stream_run_lock(url, key):
        message = _record_outcome(url, key)
    _sweep_stream(url, key.strem_nm)
    return message


def _record_outcome(url: str, key: StreamRunKey) -> str | None:
    """Write the run's verdict on its row (called under its lock); the failure message, or None.

    Expected processes with no row in the run are recorded too: SKIPPED when a failure stopped the
    stream (fail_policy STOP), else FAILED (their task ended before the runner started).
    """
    run_log.mark_abandoned_attempts_failed(url, outputs_stored=outputs_stored)
    fail_policy, _ = stream_processes(url, key.strem_nm)
    expected = _expected_processes(url, key)
    outcome = _latest_in_run(url, key)
    failing = sorted(name for name, entry in outcome.items() if entry.status in FAILING)
    for name in (p for p in expected if p not in outcome):
        never_ran = RunContext(strem_nm=key.strem_nm, prcs_nm=name, business_date=key.business_date,
                               run_id=key.run_id, strem_run_id=key.run_id, triggered_by="stream")
        if failing and fail_policy == "STOP":
            run_log.mark_skipped(url, never_ran, "not run: the stream stopped after a failure (fail_policy STOP)")
        else:
            run_log.mark_failed(url, never_ran, f"no result recorded: its task ended before the runner started "
                                f"(see the Airflow task log of {name} in {stream_dag_id(key.strem_nm)}, "
                                f"or of {process_dag_id(name)})")
            failing.append(name)
    counts = {status: sum(e.status == status for e in outcome.values()) for status in (Status.SUCCESS, Status.SKIPPED)}
    if failing:
        message = f"{len(failing)} process(es) failed or blocked: {', '.join(sorted(failing))}"
        stream_runs.mark_stream_finished(url, key, Status.FAILED, message)
        return message
    stream_runs.mark_stream_finished(
        url, key, Status.SUCCESS, f"{counts[Status.SUCCESS]} process(es) ran, {counts[Status.SKIPPED]} already done",
    )
    return None


def finish_stream_if_complete(url: str, key: StreamRunKey) -> None:
    """Close the stream run's row once every process it expected has a final row in the run, and none of
    its attempts is still RUNNING (one whose task Airflow added to the run after it started included).

    Each process of a stream run calls this as it ends, after its own row is final, so the last one
    to end always sees every row: the row closes with the last notebook, not one task start later.
    """
    expected = _expected_processes(url, key)
    latest = _latest_in_run(url, key)
    if all(entry.status != Status.RUNNING for entry in latest.values()) and all(name in latest for name in expected):
        finish_stream(url, key)


def _latest_in_run(url: str, key: StreamRunKey) -> dict[str, LogEntry]:
    """Each process's newest attempt in the stream run (attempts come oldest first: a later one wins)."""
    return {entry.prcs_nm: entry for entry in run_log.attempts_of_stream_run(url, key.strem_nm, key.run_id)
            if entry.prcs_nm}


def finish_stream_if_open(url: str, strem_nm: str, run_id: str, business_date: dt.date | None,
                          expected: Sequence[str] = ()) -> None:
    """The stream DAG's callbacks: close the row when no process task did, because some never ran.

    The date and the expected processes are the row's own; `business_date` (None when the callback could not
    tell) and `expected` (the processes of the callback's DAG) are used only when no process task opened a
    row at all.
    """
    row = stream_runs.find_stream_run_row(url, strem_nm, run_id)
    if row is not None and row.end_ts is not None:
        return  # the last process task closed it
    day = row.business_date if row is not None else business_date
    if day is None:
        log.warning("stream run %s of %s: no log row and no business date, nothing to close", run_id, strem_nm)
        return
    finish_stream(url, StreamRunKey(strem_nm, run_id, day), expected)


def mark_stale_stream_runs_finished(url: str, strem_nm: str | None = None) -> int:
    """Close the stream rows left RUNNING whose run is over (stream_runs.stale_stream_runs); return how many.

    Closed like any run: SUCCESS or FAILED by their processes' rows, the expected ones without a row
    recorded FAILED ("no result recorded") or SKIPPED (fail_policy STOP). Abandoned process attempts
    are swept first, so a RUNNING process row means a live attempt, which closes its run's row itself.
    Each run is checked again under its lock: a cleared run may have reopened it meanwhile.
    """
    run_log.mark_abandoned_attempts_failed(url, outputs_stored=outputs_stored)
    closed = 0
    for key in stream_runs.stale_stream_runs(url, strem_nm=strem_nm):
        with stream_runs.stream_run_lock(url, key):
            if stream_runs.is_stale(url, key):
                log.warning("stream run %s of %s was left RUNNING after it ended: closing it", key.run_id,
                            key.strem_nm)
                _record_outcome(url, key)
                closed += 1
    return closed


def close_stream_runs_airflow_finished(url: str, run_state: Callable[[str, str], str | None]) -> int:
    """Close the RUNNING stream rows of runs Airflow has finished, whatever became of their callback; how many.

    `run_state(dag_id, run_id)` is Airflow's state of a run ("success", "failed", ...; None when Airflow does
    not know it): the caller asks Airflow's REST API (llf.airflow_api), which the runner may not import. The
    row's own evidence cannot tell such a run is over when its callback was lost (a placeholder DAG replaced
    the stream's, the stream was deactivated, a DB blip) and no later run opened. Closed like any run, by
    its processes' rows; an attempt still RUNNING after the abandoned ones are swept is alive and closes it.
    """
    run_log.mark_abandoned_attempts_failed(url, outputs_stored=outputs_stored)
    closed = 0
    for key in stream_runs.running_stream_runs(url):
        if run_state(stream_dag_id(key.strem_nm), key.run_id) not in AIRFLOW_FINISHED:
            continue
        with stream_runs.stream_run_lock(url, key):
            row = stream_runs.stream_run_row(url, key)
            live = any(e.status == Status.RUNNING for e in _latest_in_run(url, key).values())
            if row is not None and row.status == Status.RUNNING and not live:
                log.warning("stream run %s of %s ended in Airflow but its row was left RUNNING: closing it",
                            key.run_id, key.strem_nm)
                _record_outcome(url, key)
                closed += 1
    return closed
