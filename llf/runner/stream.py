"""The stream-level log row: opened by the first process task of a run, closed with the outcome of its processes.

A run accounts for the processes it expected when its row opened (cntl_cfg_log.expected_prcs), never for
the registrations of the moment: a process registered while the run goes is neither waited for nor
recorded FAILED by it. The last process to end closes the row, or the stream DAG's callbacks do; when
neither can (a callback lost with its dag-processor, a run deleted), the row is stale and
`mark_stale_stream_runs_finished` closes it the same way: at every stream run's start and end, and
wherever abandoned process attempts are swept (`llf status`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from llf.context import RunContext
from llf.control import log as run_log
from llf.control.model import FAILING, LogEntry, Status, process_dag_id, stream_dag_id
from llf.control.repository import stream_processes
from llf.db import connect
from llf.settings import control_db_url

log = logging.getLogger(__name__)


def open_stream_run(strem_nm: str, business_date: dt.date, run_id: str) -> None:
    """Mark the stream run RUNNING; every process task of the run calls this, the first one opens the row
    and closes the rows earlier runs of the stream left open."""
    url = control_db_url()
    if run_log.mark_stream_running(url, strem_nm, business_date, run_id):
        _sweep_stream(url, strem_nm)


def _sweep_stream(url: str, strem_nm: str) -> None:
    """mark_stale_stream_runs_finished for one stream; a failure is logged, not raised: it is about other
    runs than the caller's, and the next start, end or `llf status` sweeps again."""
    try:
        mark_stale_stream_runs_finished(url, strem_nm)
    except Exception:  # logged: the caller's own run goes on
        log.exception("could not close the stale stream rows of %s; the next sweep will", strem_nm)


def _expected_processes(url: str, strem_nm: str, row: run_log.StreamRunRow | None) -> list[str]:
    """The processes the run waits for: those recorded when its row opened; the registered ones for a
    row opened before llf recorded them."""
    if row is not None and row.expected_prcs is not None:
        return list(row.expected_prcs)
    return stream_processes(url, strem_nm)[1]


@contextmanager
def _stream_run_lock(url: str, strem_nm: str, run_id: str) -> Iterator[None]:
    """Hold the run's advisory lock for the block: its outcome is written by one closer at a time (last
    process, DAG callback, sweep: no process gets two "no result" rows), and no task reopens it meanwhile."""
    connection = connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_lock({run_log.STREAM_RUN_LOCK_SQL})",
                           {"strem_nm": strem_nm, "run_id": run_id})
        yield
    finally:
        connection.close()  # closing the session releases the lock


def finish_stream(strem_nm: str, run_id: str, business_date: dt.date) -> str | None:
    """Close the stream run's row with its outcome; return the failure message, or None when it succeeded.

    Then close what earlier runs of the stream left open (mark_stale_stream_runs_finished).
    """
    url = control_db_url()
    if run_log.stream_run_row(url, strem_nm, run_id) is None:  # no process task got as far as opening it
        run_log.mark_stream_running(url, strem_nm, business_date, run_id)
    with _stream_run_lock(url, strem_nm, run_id):
        message = _record_outcome(url, strem_nm, run_id, business_date)
    _sweep_stream(url, strem_nm)
    return message


def _record_outcome(url: str, strem_nm: str, run_id: str, business_date: dt.date) -> str | None:
    """Write the run's verdict on its row (called under its lock); the failure message, or None.

    Expected processes with no row in the run are recorded too: SKIPPED when a failure stopped the
    stream (fail_policy STOP), else FAILED (their task ended before the runner started).
    """
    run_log.mark_abandoned_attempts_failed(url)
    fail_policy, _ = stream_processes(url, strem_nm)
    expected = _expected_processes(url, strem_nm, run_log.stream_run_row(url, strem_nm, run_id))
    outcome: dict[str, LogEntry] = {entry.prcs_nm: entry for entry in
                                    run_log.attempts_of_stream_run(url, strem_nm, run_id) if entry.prcs_nm}
    failing = sorted(name for name, entry in outcome.items() if entry.status in FAILING)
    for name in (p for p in expected if p not in outcome):
        never_ran = RunContext(strem_nm=strem_nm, prcs_nm=name, business_date=business_date, run_id=run_id,
                               strem_run_id=run_id, triggered_by="stream")
        if failing and fail_policy == "STOP":
            run_log.mark_skipped(url, never_ran, "not run: the stream stopped after a failure (fail_policy STOP)")
        else:
            run_log.mark_failed(url, never_ran, f"no result recorded: its task ended before the runner started "
                                f"(see the Airflow task log of {name} in {stream_dag_id(strem_nm)}, "
                                f"or of {process_dag_id(name)})")
            failing.append(name)
    counts = {status: sum(e.status == status for e in outcome.values()) for status in (Status.SUCCESS, Status.SKIPPED)}
    if failing:
        message = f"{len(failing)} process(es) failed or blocked: {', '.join(sorted(failing))}"
        run_log.mark_stream_finished(url, strem_nm, run_id, Status.FAILED, message)
        return message
    run_log.mark_stream_finished(
        url, strem_nm, run_id, Status.SUCCESS,
        f"{counts[Status.SUCCESS]} process(es) ran, {counts[Status.SKIPPED]} already done",
    )
    return None


def finish_stream_if_complete(strem_nm: str, business_date: dt.date, run_id: str) -> None:
    """Close the stream run's row once every process it expected has a final row in the run, and none of
    its attempts is still RUNNING (one whose task Airflow added to the run after it started included).

    Each process of a stream run calls this as it ends, after its own row is final, so the last one
    to end always sees every row: the row closes with the last notebook, not one task start later.
    """
    url = control_db_url()
    expected = _expected_processes(url, strem_nm, run_log.stream_run_row(url, strem_nm, run_id))
    latest = {entry.prcs_nm: entry.status for entry in run_log.attempts_of_stream_run(url, strem_nm, run_id)}
    if Status.RUNNING not in latest.values() and all(name in latest for name in expected):
        finish_stream(strem_nm, run_id, business_date)


def finish_stream_if_open(strem_nm: str, run_id: str, business_date: dt.date | None) -> None:
    """The stream DAG's callbacks: close the row when no process task did, because some never ran.

    The date is the row's own; `business_date` (None when the callback could not tell) is used only
    when no process task opened a row at all.
    """
    row = run_log.stream_run_row(control_db_url(), strem_nm, run_id)
    if row is not None and not row.open:
        return  # the last process task closed it
    day = row.business_date if row is not None else business_date
    if day is None:
        log.warning("stream run %s of %s: no log row and no business date, nothing to close", run_id, strem_nm)
        return
    finish_stream(strem_nm, run_id, day)


def mark_stale_stream_runs_finished(url: str | None = None, strem_nm: str | None = None) -> int:
    """Close the stream rows left RUNNING whose run is over (run_log.stale_stream_runs); return how many.

    Closed like any run: SUCCESS or FAILED by their processes' rows, the expected ones without a row
    recorded FAILED ("no result recorded") or SKIPPED (fail_policy STOP). Abandoned process attempts
    are swept first, so a RUNNING process row means a live attempt, which closes its run's row itself.
    Each run is checked again under its lock: a cleared run may have reopened it meanwhile.
    """
    url = url or control_db_url()
    run_log.mark_abandoned_attempts_failed(url)
    closed = 0
    for name, run_id, day in run_log.stale_stream_runs(url, strem_nm=strem_nm):
        with _stream_run_lock(url, name, run_id):
            if run_log.stale_stream_runs(url, strem_nm=name, run_id=run_id):
                log.warning("stream run %s of %s was left RUNNING after it ended: closing it", run_id, name)
                _record_outcome(url, name, run_id, day)
                closed += 1
    return closed
