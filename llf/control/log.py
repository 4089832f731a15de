"""The run log (cntl_af.cntl_cfg_log): one row per attempt, written by functions named after the state they set.

Every write is its own short transaction, so the log tells the truth even when the run dies right after.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import NamedTuple

from llf.context import RunContext
from llf.control.lock import lock_holders_sql, lock_key_sql
from llf.control.model import LogEntry, Status, stream_dag_id
from llf.db import one_row, transaction
from llf.exceptions import LlfError

_COLUMNS = (
    "log_id, strem_nm, prcs_nm, business_date::text, run_id, strem_run_id, dag_id, task_id, try_number, "
    "status, message, start_ts, end_ts, output_path"
)
_FIELDS = [name.split("::")[0].strip() for name in _COLUMNS.split(",")]


def _entry(row: tuple) -> LogEntry:
    return LogEntry(**dict(zip(_FIELDS, row, strict=True)))


def _insert(url: str, context: RunContext, status: Status, message: str, *, ended: bool) -> int:
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
        return one_row(cursor)[0]


class AttemptAlreadyClosed(LlfError):
    """The attempt's row was no longer RUNNING when its run tried to close it: someone else closed it.

    That is a sweep that found its run lock free (the run lost it) and wrote FAILED; the row keeps that
    status, and the run's own result is not recorded (see llf.runner.process).
    """

    def __init__(self, log_id: int, status: str, message: str) -> None:
        super().__init__(f"attempt {log_id} was already closed {status} by another session ({message})")
        self.log_id, self.status, self.message = log_id, status, message


def _finish(url: str, context: RunContext, status: Status, message: str, output_path: str | None) -> int:
    """Close the context's open row (context.log_id), or write a finished row when it never opened one.

    Only a RUNNING row is closed: a row someone else already closed keeps its status and message, and
    AttemptAlreadyClosed says so.
    """
    if context.log_id is None:
        return _insert(url, context.model_copy(update={"output_path": output_path}), status, message, ended=True)
    with transaction(url) as cursor:
        cursor.execute(
            "UPDATE cntl_af.cntl_cfg_log SET status = %s, message = %s, end_ts = now(), "
            "output_path = coalesce(%s, output_path) WHERE log_id = %s AND status = 'RUNNING'",
            (status, message, output_path, context.log_id),
        )
        if cursor.rowcount == 0:
            cursor.execute("SELECT status, message FROM cntl_af.cntl_cfg_log WHERE log_id = %s", (context.log_id,))
            closed = cursor.fetchone() or ("DELETED", "the row is gone")
            raise AttemptAlreadyClosed(context.log_id, *closed)
    return context.log_id


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
        cursor.execute(
            f"SELECT DISTINCT ON (prcs_nm) {_COLUMNS} FROM cntl_af.cntl_cfg_log "
            "WHERE prcs_nm = ANY(%s) AND business_date = %s AND status <> 'SKIPPED' "
            "ORDER BY prcs_nm, log_id DESC",
            (list(prcs_names), business_date),
        )
        return {entry.prcs_nm: entry for entry in map(_entry, cursor.fetchall()) if entry.prcs_nm is not None}


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


# The advisory lock of one stream run (named parameters strem_nm, run_id): held for a transaction while a
# process task opens the run's row, for a session while llf.runner.stream records the run's outcome.
STREAM_RUN_LOCK_SQL = "hashtext('llf.stream-run'), hashtext(%(strem_nm)s || '|' || %(run_id)s)"

# The processes a stream run waits for and accounts for: the stream's active ones when its row (re)opens.
_EXPECTED_PROCESSES_SQL = (
    "(SELECT coalesce(array_agg(p.prcs_nm ORDER BY p.prcs_nm), '{}') FROM cntl_af.cntl_cfg_strem s "
    "JOIN cntl_af.cntl_cfg_prcs_grp g ON g.strem_id = s.strem_id AND g.actv_flg "
    "JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_grp_id = g.prcs_grp_id AND p.actv_flg WHERE s.strem_nm = %(strem_nm)s)"
)


def mark_stream_running(url: str, strem_nm: str, business_date: dt.date, run_id: str) -> bool:
    """Open the stream-level row of a run, or reopen it (a cleared run starts again); True when this call did.

    Process tasks of one run call this concurrently: a transaction-scoped advisory lock on the run
    makes exactly one of them insert the row. The statement that opens it also records the stream's
    active processes (expected_prcs), so a process registered while the run goes is not waited for.
    A reopen refreshes that set and start_ts: Airflow reruns a cleared run on the DAG as it is now,
    and the row tells of its latest pass (its status and end_ts already do).
    """
    values = {"strem_nm": strem_nm, "run_id": run_id, "business_date": business_date,
              "dag_id": stream_dag_id(strem_nm), "hostname": socket.gethostname(), "pid": os.getpid()}
    with transaction(url) as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock({STREAM_RUN_LOCK_SQL})", values)
        cursor.execute(
            "UPDATE cntl_af.cntl_cfg_log SET status = 'RUNNING', message = 'running', start_ts = now(), "
            f"end_ts = NULL, expected_prcs = {_EXPECTED_PROCESSES_SQL} WHERE strem_nm = %(strem_nm)s "
            "AND run_id = %(run_id)s AND prcs_nm IS NULL AND status <> 'RUNNING'",
            values,
        )
        reopened = cursor.rowcount > 0
        cursor.execute(
            "INSERT INTO cntl_af.cntl_cfg_log (strem_nm, business_date, run_id, strem_run_id, dag_id, status, "
            "message, hostname, pid, expected_prcs) SELECT %(strem_nm)s, %(business_date)s, %(run_id)s, "
            "%(run_id)s, %(dag_id)s, 'RUNNING', 'running', %(hostname)s, %(pid)s, "
            f"{_EXPECTED_PROCESSES_SQL} WHERE NOT EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_log "
            "WHERE strem_nm = %(strem_nm)s AND run_id = %(run_id)s AND prcs_nm IS NULL)",
            values,
        )
        return reopened or cursor.rowcount > 0


class StreamRunRow(NamedTuple):
    business_date: dt.date
    open: bool
    expected_prcs: list[str] | None  # None on a row opened before llf recorded the set (0024)


def stream_run_row(url: str, strem_nm: str, run_id: str) -> StreamRunRow | None:
    """A stream run's stream-level row; None when no process opened one."""
    with transaction(url) as cursor:
        cursor.execute(
            "SELECT business_date, end_ts IS NULL, expected_prcs FROM cntl_af.cntl_cfg_log "
            "WHERE strem_nm = %s AND run_id = %s AND prcs_nm IS NULL ORDER BY log_id LIMIT 1",
            (strem_nm, run_id),
        )
        row = cursor.fetchone()
    return StreamRunRow(*row) if row else None


def mark_stream_finished(url: str, strem_nm: str, run_id: str, status: Status, message: str) -> None:
    """Close the stream-level row of a run (opened by mark_stream_running) with its final status."""
    with transaction(url) as cursor:
        cursor.execute(
            "UPDATE cntl_af.cntl_cfg_log SET status = %s, message = %s, end_ts = now() "
            "WHERE strem_nm = %s AND run_id = %s AND prcs_nm IS NULL",
            (status, message, strem_nm, run_id),
        )


# Airflow names backfill runs so (DagRunType.BACKFILL_JOB), and runs them beside the stream's other runs.
BACKFILL_RUN_PREFIX = "backfill__"
_RUN_ROWS = "FROM cntl_af.cntl_cfg_log a WHERE a.strem_nm = r.strem_nm AND a.strem_run_id = r.run_id AND a.prcs_nm "


def stale_stream_runs(url: str, *, strem_nm: str | None = None, run_id: str | None = None,
                      ) -> list[tuple[str, str, dt.date]]:
    """(strem_nm, run_id, business_date) of the RUNNING stream rows no process task will close, by construction.

    None while a process row of the run is RUNNING: that attempt closes the row when it ends (sweep
    abandoned attempts first, so RUNNING means alive). Otherwise a row is stale when
    - another run of the stream opened its row later: Airflow runs one run of a stream DAG at a time
      (max_active_runs=1), so this run is over and its DAG callback never ran. Backfill runs take no
      part: Airflow runs several at once, beside the others, up to the backfill's own limit;
    - or it is complete: every expected process has a row in the run and one was written since the
      row (re)opened (a cleared run just reopened has only its previous pass's rows).
    """
    with transaction(url) as cursor:
        cursor.execute(
            "SELECT r.strem_nm, r.run_id, r.business_date FROM cntl_af.cntl_cfg_log r "
            "WHERE r.prcs_nm IS NULL AND r.status = 'RUNNING' AND (%(strem_nm)s::text IS NULL OR "
            "r.strem_nm = %(strem_nm)s) AND (%(run_id)s::text IS NULL OR r.run_id = %(run_id)s) "
            f"AND NOT EXISTS (SELECT 1 {_RUN_ROWS} IS NOT NULL AND a.status = 'RUNNING') AND ("
            " (NOT starts_with(r.run_id, %(backfill)s) AND EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_log n "
            "  WHERE n.strem_nm = r.strem_nm AND n.prcs_nm IS NULL AND n.run_id <> r.run_id "
            "  AND NOT starts_with(n.run_id, %(backfill)s) AND n.start_ts > r.start_ts))"
            f" OR (r.expected_prcs IS NOT NULL AND EXISTS (SELECT 1 {_RUN_ROWS} IS NOT NULL "
            "  AND a.start_ts >= r.start_ts) AND NOT EXISTS (SELECT 1 FROM unnest(r.expected_prcs) e(prcs_nm) "
            f"  WHERE NOT EXISTS (SELECT 1 {_RUN_ROWS} = e.prcs_nm)))) ORDER BY r.log_id",
            {"strem_nm": strem_nm, "run_id": run_id, "backfill": BACKFILL_RUN_PREFIX},
        )
        return [tuple(row) for row in cursor.fetchall()]


ABANDONED = "attempt abandoned: its worker was killed or lost (no result recorded)"


def mark_abandoned_attempts_failed(url: str, *, run_id: str | None = None) -> int:
    """Close RUNNING rows whose worker is gone (no session holds their run lock); return how many.

    A live attempt always holds its advisory lock (llf.control.lock), and PostgreSQL drops the lock
    the moment the worker's connection dies, so "RUNNING without its lock" means killed. A row whose
    lock anyone holds is left alone, even when the holder is this very process: that holder closes
    the rows of its own process and date itself (mark_stale_attempts_failed).
    """
    with transaction(url) as cursor:
        cursor.execute(
            "UPDATE cntl_af.cntl_cfg_log l SET status = 'FAILED', end_ts = now(), message = %(message)s "
            "WHERE l.status = 'RUNNING' AND l.prcs_nm IS NOT NULL AND (%(run_id)s::text IS NULL "
            "OR l.run_id = %(run_id)s) "
            f"AND NOT EXISTS ({lock_holders_sql(lock_key_sql('l.prcs_nm', 'l.business_date'))})",
            {"run_id": run_id, "message": ABANDONED},
        )
        return cursor.rowcount


def mark_stale_attempts_failed(url: str, prcs_nm: str, business_date: dt.date) -> int:
    """Close the RUNNING rows of one process and date; only the holder of their run lock may call this.

    Holding the lock, it knows any RUNNING row of that process and date is dead (a live attempt would
    hold the lock), which the global sweep cannot tell: it sees the lock held. An Airflow retry after
    a killed worker reaches the runner this way, with the dead try's row still RUNNING.
    """
    with transaction(url) as cursor:
        cursor.execute(
            "UPDATE cntl_af.cntl_cfg_log SET status = 'FAILED', end_ts = now(), message = %s "
            "WHERE status = 'RUNNING' AND prcs_nm = %s AND business_date = %s",
            (ABANDONED, prcs_nm, business_date),
        )
        return cursor.rowcount
