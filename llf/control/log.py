"""The run log (cntl_af.cntl_cfg_log): one row per attempt, written by functions named after the state they set.

Every write is its own short transaction, so the log tells the truth even when the run dies right after.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable

import psycopg2
import psycopg2.extensions
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from llf.context import RunContext
from llf.control.lock import lock_holders_sql, lock_key_sql
from llf.control.model import LogEntry, Status, entries
from llf.db import one_row, transaction
from llf.exceptions import ControlDatabaseError, LlfError
from llf.text import DETAIL_MAX_LENGTH, one_line

log = logging.getLogger(__name__)

FINAL_WRITE_SECONDS = 60.0
"""How long the write that closes an attempt's row is retried while the control DB cannot be reached.

That write is the attempt's result: lost, the row stays RUNNING, the sweep closes it "attempt abandoned"
and a retry runs the notebook again. A failover, a restart or a pooler's hiccup ends within seconds; a
minute rides those out, and still ends the task long before anyone waits on it. Retried while the run
lock is held, so no other attempt of the process and date starts meanwhile.
"""

# An attempt's row, open (end_ts NULL) or already final.
INSERT_ATTEMPT_SQL = """
INSERT INTO cntl_af.cntl_cfg_log (strem_nm, prcs_nm, business_date, run_id, strem_run_id, dag_id, task_id,
                                  try_number, status, message, end_ts, output_path, hostname, pid, queue_nm,
                                  rqst_strem_nm, rqst_strem_run_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END, %s, %s, %s, %s, %s, %s)
RETURNING log_id
"""

# Closes an attempt's row, only while it is RUNNING (see _finish). The output location is the attempt's own
# answer, NULL included: the RUNNING row names where outputs will go (so a sweep's FAILED row still links what a
# dead worker stored), but an attempt that stored nothing (rejected notebook, lake refused) links nothing.
CLOSE_ATTEMPT_SQL = """
UPDATE cntl_af.cntl_cfg_log SET status = %s, message = %s, end_ts = now(), output_path = %s
WHERE log_id = %s AND status = 'RUNNING'
"""

# A swept row (closed by another session while the attempt still ran) gets the attempt's output location, when
# it has none: the sweep may have run before the notebook was stored, and dropped a location that was empty then.
LINK_OUTPUTS_SQL = """
UPDATE cntl_af.cntl_cfg_log SET output_path = %s WHERE log_id = %s AND output_path IS NULL AND %s IS NOT NULL
"""

# How a row that CLOSE_ATTEMPT_SQL did not close was closed.
CLOSED_ATTEMPT_SQL = "SELECT status, message FROM cntl_af.cntl_cfg_log WHERE log_id = %s"

LATEST_ATTEMPTS_SQL = """
SELECT DISTINCT ON (prcs_nm) log_id, strem_nm, prcs_nm, business_date, run_id, strem_run_id, dag_id, task_id,
       try_number, status, message, start_ts, end_ts, output_path, rqst_strem_nm, rqst_strem_run_id
FROM cntl_af.cntl_cfg_log
WHERE prcs_nm = ANY(%s) AND business_date = %s AND status <> 'SKIPPED'
ORDER BY prcs_nm, log_id DESC
"""

ATTEMPTS_FOR_DATE_SQL = """
SELECT log_id, strem_nm, prcs_nm, business_date, run_id, strem_run_id, dag_id, task_id, try_number, status,
       message, start_ts, end_ts, output_path, rqst_strem_nm, rqst_strem_run_id
FROM cntl_af.cntl_cfg_log
WHERE prcs_nm = %s AND business_date = %s AND status <> 'SKIPPED'
ORDER BY log_id DESC
"""

ATTEMPTS_OF_STREAM_RUN_SQL = """
SELECT log_id, strem_nm, prcs_nm, business_date, run_id, strem_run_id, dag_id, task_id, try_number, status,
       message, start_ts, end_ts, output_path, rqst_strem_nm, rqst_strem_run_id
FROM cntl_af.cntl_cfg_log
WHERE strem_nm = %s AND strem_run_id = %s AND prcs_nm IS NOT NULL
ORDER BY log_id
"""

# RUNNING process rows (optionally of one run) whose run lock nobody holds; named parameters run_id, message.
# Built once from llf.control.lock's own SQL builders, never from input.
SWEEP_ABANDONED_SQL = f"""
UPDATE cntl_af.cntl_cfg_log l SET status = 'FAILED', end_ts = now(), message = %(message)s
WHERE l.status = 'RUNNING' AND l.prcs_nm IS NOT NULL AND (%(run_id)s::text IS NULL OR l.run_id = %(run_id)s)
  AND NOT EXISTS ({lock_holders_sql(lock_key_sql('l.prcs_nm', 'l.business_date'))})
RETURNING l.log_id, l.prcs_nm, l.output_path
"""

# Who holds the run lock of one process and date (named parameters prcs_nm, business_date): the attempt rows
# that say so, and the database sessions holding it. Built from llf.control.lock's own SQL builders.
RUNNING_ATTEMPTS_SQL = """
SELECT log_id, run_id, hostname, pid, start_ts FROM cntl_af.cntl_cfg_log
WHERE status = 'RUNNING' AND prcs_nm = %(prcs_nm)s AND business_date = %(business_date)s ORDER BY log_id DESC
"""
LOCK_SESSIONS_SQL = f"""
SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start FROM pg_stat_activity a
WHERE EXISTS ({lock_holders_sql(lock_key_sql('%(prcs_nm)s', '%(business_date)s'))} AND k.pid = a.pid)
"""

# Every RUNNING row of one process and date (see mark_stale_attempts_failed).
SWEEP_STALE_SQL = """
UPDATE cntl_af.cntl_cfg_log SET status = 'FAILED', end_ts = now(), message = %s
WHERE status = 'RUNNING' AND prcs_nm = %s AND business_date = %s
RETURNING log_id, prcs_nm, output_path
"""


def _insert(url: str, context: RunContext, status: Status, message: str, *, ended: bool) -> int:
    """One attempt's row. The host is the one Airflow names the task's (context.hostname, which may be a worker's
    own name on a shared machine), else this machine's: what a reader matches against Airflow's task instance."""
    with transaction(url) as cursor:
        cursor.execute(
            INSERT_ATTEMPT_SQL,
            (context.strem_nm, context.prcs_nm, context.business_date, context.run_id, context.strem_run_id,
             context.dag_id, context.task_id, context.try_number, status, message, ended,
             context.output_path, context.worker_host, os.getpid(), context.queue_nm, context.rqst_strem_nm,
             context.rqst_strem_run_id),
        )
        return one_row(cursor)[0]


class AttemptAlreadyClosed(LlfError):
    """The attempt's row was no longer RUNNING when its run tried to close it: someone else closed it.

    That is a sweep that found its run lock free (the run lost it) and wrote FAILED; the row keeps that
    status, and the run's own result is not recorded (see llf.runner.process).
    """

    def __init__(self, log_id: int, status: str, message: str) -> None:
        super().__init__(f"attempt {log_id} was already closed {status} by another session ({message})")
        self.log_id, self.status, self.message = log_id, status, message


class AttemptNotClosed(LlfError):
    """The control database could not be reached to close an attempt's row for FINAL_WRITE_SECONDS."""


def _finish(url: str, context: RunContext, status: Status, message: str, output_path: str | None) -> int:
    """Close the context's open row (context.log_id), or write a finished row when it never opened one.

    Only a RUNNING row is closed: a row someone else already closed keeps its status and message, and
    AttemptAlreadyClosed says so; unless it holds this very status and message, written by an earlier
    try of this write whose commit got through while its connection broke.
    """
    if context.log_id is None:
        return _insert(url, context.model_copy(update={"output_path": output_path}), status, message, ended=True)
    closed_before: tuple | None = None
    with transaction(url) as cursor:
        cursor.execute(CLOSE_ATTEMPT_SQL, (status, message, output_path, context.log_id))
        if cursor.rowcount == 0:
            cursor.execute(CLOSED_ATTEMPT_SQL, (context.log_id,))
            closed = tuple(cursor.fetchone() or ("DELETED", "the row is gone"))
            if closed != (status, message):
                # the sweep's status stands, but where this attempt stored its notebook is a fact it did not have
                cursor.execute(LINK_OUTPUTS_SQL, (output_path, context.log_id, output_path))
                closed_before = closed
    if closed_before is not None:  # raised once the link is committed
        raise AttemptAlreadyClosed(context.log_id, *closed_before)
    return context.log_id


# What a lost connection raises: connect() refused (ControlDatabaseError), a session broken mid-statement
# (OperationalError, which psycopg2 marks closed, so llf.db opens a new one next time), a closed one (InterfaceError).
_CONNECTION_LOST = (ControlDatabaseError, psycopg2.OperationalError, psycopg2.InterfaceError)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("closing an attempt's row failed (%s); try %d again in %.1f s", one_line(error, DETAIL_MAX_LENGTH),
                state.attempt_number + 1, state.upcoming_sleep)


def close_attempt(url: str, context: RunContext, status: Status, message: str, output_path: str | None = None,
                  *, retry_for: float = FINAL_WRITE_SECONDS) -> int:
    """Close the attempt's row as `status` (see _finish), retried with backoff for `retry_for` seconds
    while the control database cannot be reached; each try opens a new connection if the last one broke.

    Past that, AttemptNotClosed says so in a sentence: the row stays RUNNING until a sweep closes it.
    """
    retrying = Retrying(retry=retry_if_exception_type(_CONNECTION_LOST), stop=stop_after_delay(retry_for),
                        wait=wait_exponential(multiplier=0.25, max=5), before_sleep=_log_retry, reraise=True)
    try:
        return retrying(_finish, url, context, status, message, output_path)
    except _CONNECTION_LOST as error:
        raise AttemptNotClosed(
            f"could not close attempt {context.log_id} as {status} for {retry_for:g} s: the control database "
            f"was not reachable ({one_line(error, DETAIL_MAX_LENGTH)}); the row stays RUNNING until a sweep "
            "closes it as abandoned") from error


def mark_running(url: str, context: RunContext) -> int:
    """Open an attempt; the unique index on RUNNING rows refuses a second one for the same process and date."""
    return _insert(url, context, Status.RUNNING, "running", ended=False)


def mark_success(url: str, context: RunContext, message: str, output_path: str | None = None) -> int:
    return _finish(url, context, Status.SUCCESS, message, output_path)


def mark_failed(url: str, context: RunContext, message: str, output_path: str | None = None) -> int:
    return _finish(url, context, Status.FAILED, message, output_path)


def mark_blocked(url: str, context: RunContext, message: str) -> int:
    return _finish(url, context, Status.BLOCKED, message, None)


def mark_skipped(url: str, context: RunContext, message: str) -> int:
    return _finish(url, context, Status.SKIPPED, message, None)


def latest_attempts(url: str, prcs_names: list[str], business_date: dt.date) -> dict[str, LogEntry]:
    """The newest attempt of each named process for the date (SKIPPED rows ignored: they decide nothing)."""
    with transaction(url) as cursor:
        cursor.execute(LATEST_ATTEMPTS_SQL, (list(prcs_names), business_date))
        return {entry.prcs_nm: entry for entry in entries(cursor) if entry.prcs_nm is not None}


def attempts_for_date(url: str, prcs_nm: str, business_date: dt.date) -> list[LogEntry]:
    """Every attempt of one process for the date, newest first (SKIPPED rows left out: they decide nothing).

    What the run rule reads (llf.runner.run_rule): the newest attempt, this Airflow run's own tries and the
    newest attempt of a stream run may each be any of them.
    """
    with transaction(url) as cursor:
        cursor.execute(ATTEMPTS_FOR_DATE_SQL, (prcs_nm, business_date))
        return entries(cursor)


def attempts_of_stream_run(url: str, strem_nm: str, strem_run_id: str) -> list[LogEntry]:
    """Every process row written for one stream run, oldest first.

    By stream name too: scheduled runs of two streams on the same cron share their run id.
    """
    with transaction(url) as cursor:
        cursor.execute(ATTEMPTS_OF_STREAM_RUN_SQL, (strem_nm, strem_run_id))
        return entries(cursor)


ABANDONED = "attempt abandoned: its worker was killed or lost (no result recorded)"


# Whether the lake holds an attempt's executed notebook at its recorded location (output_path, prcs_nm): the
# runner's answer (llf.runner.outputs), as the control layer cannot read the lake.
OutputsStored = Callable[[str, str], bool]

DROP_OUTPUT_PATH_SQL = "UPDATE cntl_af.cntl_cfg_log SET output_path = NULL WHERE log_id = ANY(%s)"


def _drop_dangling_outputs(cursor: psycopg2.extensions.cursor, outputs_stored: OutputsStored | None) -> None:
    """After a sweep (its RETURNING rows in `cursor`): forget the location of a swept attempt whose notebook never
    reached the lake. Its RUNNING row named where the outputs would go; a worker killed before storing them
    leaves that pointing at nothing, while one killed after storing leaves a link that opens them."""
    swept = cursor.fetchall()
    if outputs_stored is None:
        return
    dangling = [log_id for log_id, prcs_nm, path in swept if path and not outputs_stored(path, prcs_nm)]
    if dangling:
        cursor.execute(DROP_OUTPUT_PATH_SQL, (dangling,))


def mark_abandoned_attempts_failed(url: str, *, run_id: str | None = None,
                                   outputs_stored: OutputsStored | None = None) -> int:
    """Close RUNNING rows whose worker is gone (no session holds their run lock); return how many.

    A live attempt always holds its advisory lock (llf.control.lock), and PostgreSQL drops the lock
    the moment the worker's connection dies, so "RUNNING without its lock" means killed. A row whose
    lock anyone holds is left alone, even when the holder is this very process: that holder closes
    the rows of its own process and date itself (mark_stale_attempts_failed).
    """
    with transaction(url) as cursor:
        cursor.execute(SWEEP_ABANDONED_SQL, {"run_id": run_id, "message": ABANDONED})
        closed = cursor.rowcount
        _drop_dangling_outputs(cursor, outputs_stored)
        return closed


def mark_stale_attempts_failed(url: str, prcs_nm: str, business_date: dt.date,
                               outputs_stored: OutputsStored | None = None) -> int:
    """Close the RUNNING rows of one process and date; only the holder of their run lock may call this.

    Holding the lock, it knows any RUNNING row of that process and date is dead (a live attempt would
    hold the lock), which the global sweep cannot tell: it sees the lock held. An Airflow retry after
    a killed worker reaches the runner this way, with the dead try's row still RUNNING.
    """
    with transaction(url) as cursor:
        cursor.execute(SWEEP_STALE_SQL, (ABANDONED, prcs_nm, business_date))
        closed = cursor.rowcount
        _drop_dangling_outputs(cursor, outputs_stored)
        return closed


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") if moment else "an unknown time"


def lock_holder(url: str, prcs_nm: str, business_date: dt.date) -> str:
    """Who holds the run lock of a process and date, in words: its RUNNING attempt (run id, host, pid, since
    when) and the database session holding the lock. What a run that waited too long for the lock reports."""
    names = {"prcs_nm": prcs_nm, "business_date": business_date}
    with transaction(url) as cursor:
        cursor.execute(RUNNING_ATTEMPTS_SQL, names)
        attempts = cursor.fetchall()
        cursor.execute(LOCK_SESSIONS_SQL, names)
        sessions = cursor.fetchall()
    held_by = "; ".join(f"attempt {log_id} of run {run_id} (host {host}, pid {pid}, RUNNING since {_when(since)})"
                        for log_id, run_id, host, pid, since in attempts) or "no RUNNING attempt of it"
    through = "; ".join(f"database session {pid} ({application or 'no application name'}, from "
                        f"{address or 'a local socket'}, connected since {_when(since)})"
                        for pid, application, address, since in sessions) or "no session (it was just released)"
    return f"held by {held_by}, through {through}"
