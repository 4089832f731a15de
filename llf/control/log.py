"""The run log (cntl_af.cntl_cfg_log): one row per attempt, written by functions named after the state they set.

Every write is its own short transaction, so the log tells the truth even when the run dies right after.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

from llf.control.model import LogEntry
from llf.db import transaction
from llf.runner.context import RunContext

_COLUMNS = (
    "log_id, strem_nm, prcs_nm, business_date::text, run_id, strem_run_id, dag_id, task_id, try_number, "
    "status, message, start_ts, end_ts, output_path"
)
_FIELDS = [name.split("::")[0].strip() for name in _COLUMNS.split(",")]


def _entry(row: tuple) -> LogEntry:
    return LogEntry(**dict(zip(_FIELDS, row, strict=True)))


def _insert(url: str, context: RunContext, status: str, message: str, *, ended: bool) -> int:
    with transaction(url) as cursor:
        cursor.execute(
            "INSERT INTO cntl_af.cntl_cfg_log (strem_nm, prcs_nm, business_date, run_id, strem_run_id, dag_id, "
            "task_id, try_number, status, message, end_ts, output_path, hostname, pid) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END, %s, %s, %s) "
            "RETURNING log_id",
            (context.strem_nm, context.prcs_nm, context.business_date, context.run_id, context.strem_run_id,
             context.dag_id, context.task_id, context.try_number, status, message, ended,
             context.output_path, socket.gethostname(), os.getpid()),
        )
        return cursor.fetchone()[0]


def _finish(url: str, context: RunContext, status: str, message: str, output_path: str | None) -> int:
    """Close the context's open row (context.log_id), or write a finished row when it never opened one."""
    if context.log_id is None:
        return _insert(url, context.model_copy(update={"output_path": output_path}), status, message, ended=True)
    with transaction(url) as cursor:
        cursor.execute(
            "UPDATE cntl_af.cntl_cfg_log SET status = %s, message = %s, end_ts = now(), "
            "output_path = coalesce(%s, output_path) WHERE log_id = %s",
            (status, message, output_path, context.log_id),
        )
    return context.log_id


def mark_running(url: str, context: RunContext) -> int:
    """Open an attempt; the unique index on RUNNING rows refuses a second one for the same process and date."""
    return _insert(url, context, "RUNNING", "running", ended=False)


def mark_success(url: str, context: RunContext, message: str, output_path: str | None = None) -> int:
    return _finish(url, context, "SUCCESS", message, output_path)


def mark_failed(url: str, context: RunContext, message: str, output_path: str | None = None) -> int:
    return _finish(url, context, "FAILED", message, output_path)


def mark_blocked(url: str, context: RunContext, message: str) -> int:
    return _finish(url, context, "BLOCKED", message, None)


def mark_skipped(url: str, context: RunContext, message: str) -> int:
    return _finish(url, context, "SKIPPED", message, None)


def latest_attempts(url: str, prcs_names: list[str], business_date: dt.date) -> dict[str, LogEntry]:
    """The newest attempt of each named process for the date (SKIPPED rows ignored: they decide nothing)."""
    with transaction(url) as cursor:
        cursor.execute(
            f"SELECT DISTINCT ON (prcs_nm) {_COLUMNS} FROM cntl_af.cntl_cfg_log "
            "WHERE prcs_nm = ANY(%s) AND business_date = %s AND status <> 'SKIPPED' "
            "ORDER BY prcs_nm, log_id DESC",
            (list(prcs_names), business_date),
        )
        return {entry.prcs_nm: entry for entry in map(_entry, cursor.fetchall())}


def attempts_of_stream_run(url: str, strem_nm: str, strem_run_id: str) -> list[LogEntry]:
    """Every process row written for one stream run, oldest first.

    By stream name too: scheduled runs of two streams on the same cron share their run id.
    """
    with transaction(url) as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND strem_run_id = %s "
            "AND prcs_nm IS NOT NULL ORDER BY log_id",
            (strem_nm, strem_run_id),
        )
        return [_entry(row) for row in cursor.fetchall()]


def mark_stream_running(url: str, strem_nm: str, business_date: dt.date, run_id: str) -> None:
    """Open the stream-level row of a run, or reopen it (a cleared run starts again); idempotent.

    Process tasks of one run call this concurrently: a transaction-scoped advisory lock on the run
    makes exactly one of them insert the row.
    """
    with transaction(url) as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('llf.stream-run'), hashtext(%s || '|' || %s))",
                       (strem_nm, run_id))
        cursor.execute(
            "UPDATE cntl_af.cntl_cfg_log SET status = 'RUNNING', message = 'running', end_ts = NULL "
            "WHERE strem_nm = %s AND run_id = %s AND prcs_nm IS NULL AND status <> 'RUNNING'",
            (strem_nm, run_id),
        )
        cursor.execute(
            "INSERT INTO cntl_af.cntl_cfg_log (strem_nm, business_date, run_id, strem_run_id, dag_id, status, "
            "message, hostname, pid) SELECT %s, %s, %s, %s, %s, 'RUNNING', 'running', %s, %s WHERE NOT EXISTS "
            "(SELECT 1 FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND run_id = %s AND prcs_nm IS NULL)",
            (strem_nm, business_date, run_id, run_id, f"stream__{strem_nm}", socket.gethostname(), os.getpid(),
             strem_nm, run_id),
        )


def stream_run_row(url: str, strem_nm: str, run_id: str) -> tuple[dt.date, bool] | None:
    """(business date, still open) of a stream run's stream-level row; None when no process opened one."""
    with transaction(url) as cursor:
        cursor.execute(
            "SELECT business_date, end_ts IS NULL FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND run_id = %s "
            "AND prcs_nm IS NULL ORDER BY log_id LIMIT 1",
            (strem_nm, run_id),
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def mark_stream_finished(url: str, strem_nm: str, run_id: str, status: str, message: str) -> None:
    """Close the stream-level row of a run (written by start) with its final status."""
    with transaction(url) as cursor:
        cursor.execute(
            "UPDATE cntl_af.cntl_cfg_log SET status = %s, message = %s, end_ts = now() "
            "WHERE strem_nm = %s AND run_id = %s AND prcs_nm IS NULL",
            (status, message, strem_nm, run_id),
        )


def mark_abandoned_attempts_failed(url: str, *, run_id: str | None = None) -> int:
    """Close RUNNING rows whose worker is gone (no session holds their run lock); return how many.

    A live attempt always holds its advisory lock (llf.runner.lock), and PostgreSQL drops the lock
    the moment the worker's connection dies, so "RUNNING without its lock" means killed.
    """
    from llf.runner.lock import LOCK_NAMESPACE_SQL, lock_key_sql

    with transaction(url) as cursor:
        cursor.execute(
            "UPDATE cntl_af.cntl_cfg_log l SET status = 'FAILED', end_ts = now(), "
            "message = 'attempt abandoned: its worker was killed or lost (no result recorded)' "
            "WHERE l.status = 'RUNNING' AND l.prcs_nm IS NOT NULL AND (%(run_id)s::text IS NULL "
            "OR l.run_id = %(run_id)s) AND NOT EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' "
            f"AND k.granted AND k.classid::int = {LOCK_NAMESPACE_SQL} "
            f"AND k.objid::int = {lock_key_sql('l.prcs_nm', 'l.business_date')} AND k.objsubid = 2)",
            {"run_id": run_id},
        )
        return cursor.rowcount
