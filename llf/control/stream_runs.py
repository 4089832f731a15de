"""The stream-level rows of the run log (cntl_af.cntl_cfg_log, prcs_nm NULL) and the advisory lock of a stream run.

A stream run has one such row: opened (or reopened) by the first process task of the run, closed with its
outcome by llf.runner.stream. Every function here takes the run as one StreamRunKey; every statement is a
named constant, written out whole.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from llf.context import StreamRunKey
from llf.control.model import LogEntry, Status, entries, stream_dag_id
from llf.db import connect, transaction

# The advisory lock of one stream run (named parameters strem_nm, run_id): two integers, a key space apart
# from the process-run locks' single bigint (llf.control.lock). Held for a transaction while a process task
# opens the run's row, for a session while llf.runner.stream records the run's outcome.
_STREAM_RUN_LOCK_KEY_SQL = "hashtext('llf.stream-run'), hashtext(%(strem_nm)s || '|' || %(run_id)s)"
_TAKE_LOCK_FOR_SESSION_SQL = f"SELECT pg_advisory_lock({_STREAM_RUN_LOCK_KEY_SQL})"
_TAKE_LOCK_FOR_TRANSACTION_SQL = f"SELECT pg_advisory_xact_lock({_STREAM_RUN_LOCK_KEY_SQL})"

# A (re)opened row records the processes the run waits for and accounts for (expected_prcs): the process tasks
# of the DAG that runs, as the opening task names them (%(expected)s), never the registrations of the moment.
_REOPEN_SQL = (
    "UPDATE cntl_af.cntl_cfg_log SET status = 'RUNNING', message = 'running', start_ts = now(), "
    "end_ts = NULL, expected_prcs = %(expected)s::text[] WHERE strem_nm = %(strem_nm)s "
    "AND run_id = %(run_id)s AND prcs_nm IS NULL AND status <> 'RUNNING'"
)
_OPEN_SQL = (
    "INSERT INTO cntl_af.cntl_cfg_log (strem_nm, business_date, run_id, strem_run_id, dag_id, status, "
    "message, hostname, pid, expected_prcs) SELECT %(strem_nm)s, %(business_date)s, %(run_id)s, "
    "%(run_id)s, %(dag_id)s, 'RUNNING', 'running', %(hostname)s, %(pid)s, "
    "%(expected)s::text[] WHERE NOT EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_log "
    "WHERE strem_nm = %(strem_nm)s AND run_id = %(run_id)s AND prcs_nm IS NULL)"
)
_ROW_SQL = (
    "SELECT log_id, strem_nm, business_date, run_id, strem_run_id, dag_id, status, message, start_ts, end_ts, "
    "expected_prcs FROM cntl_af.cntl_cfg_log "
    "WHERE strem_nm = %(strem_nm)s AND run_id = %(run_id)s AND prcs_nm IS NULL ORDER BY log_id LIMIT 1"
)
_FINISH_SQL = (
    "UPDATE cntl_af.cntl_cfg_log SET status = %(status)s, message = %(message)s, end_ts = now() "
    "WHERE strem_nm = %(strem_nm)s AND run_id = %(run_id)s AND prcs_nm IS NULL"
)

# Airflow names backfill runs so (DagRunType.BACKFILL_JOB), and runs them beside the stream's other runs.
BACKFILL_RUN_PREFIX = "backfill__"

# The RUNNING stream rows no process task will close (stale_stream_runs says when); the optional filters
# strem_nm and run_id are NULL for "any". `a` is a process row of the run r, `n` a later run of its stream.
_STALE_SQL = (
    "SELECT r.strem_nm, r.run_id, r.business_date FROM cntl_af.cntl_cfg_log r "
    "WHERE r.prcs_nm IS NULL AND r.status = 'RUNNING' "
    "AND (%(strem_nm)s::text IS NULL OR r.strem_nm = %(strem_nm)s) "
    "AND (%(run_id)s::text IS NULL OR r.run_id = %(run_id)s) "
    "AND NOT EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_log a WHERE a.strem_nm = r.strem_nm "
    "  AND a.strem_run_id = r.run_id AND a.prcs_nm IS NOT NULL AND a.status = 'RUNNING') "
    "AND ("
    " (NOT starts_with(r.run_id, %(backfill)s) AND EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_log n "
    "  WHERE n.strem_nm = r.strem_nm AND n.prcs_nm IS NULL AND n.run_id <> r.run_id "
    "  AND NOT starts_with(n.run_id, %(backfill)s) AND n.start_ts > r.start_ts))"
    " OR (r.expected_prcs IS NOT NULL"
    "  AND EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_log a WHERE a.strem_nm = r.strem_nm "
    "   AND a.strem_run_id = r.run_id AND a.prcs_nm IS NOT NULL AND a.start_ts >= r.start_ts)"
    "  AND NOT EXISTS (SELECT 1 FROM unnest(r.expected_prcs) e(prcs_nm) "
    "   WHERE NOT EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_log a WHERE a.strem_nm = r.strem_nm "
    "    AND a.strem_run_id = r.run_id AND a.prcs_nm = e.prcs_nm)))"
    ") ORDER BY r.log_id"
)


# Every stream row still RUNNING, oldest first: what a sweep asks Airflow about (stale_stream_runs' other cases
# need no Airflow).
_RUNNING_SQL = (
    "SELECT strem_nm, run_id, business_date FROM cntl_af.cntl_cfg_log WHERE prcs_nm IS NULL "
    "AND status = 'RUNNING' ORDER BY log_id"
)


def _names(key: StreamRunKey) -> dict[str, object]:
    """The key as the statements' named parameters."""
    return {"strem_nm": key.strem_nm, "run_id": key.run_id, "business_date": key.business_date}


@contextmanager
def stream_run_lock(url: str, key: StreamRunKey) -> Iterator[None]:
    """Hold the run's advisory lock for the block: its outcome is written by one closer at a time (last
    process, DAG callback, sweep: no process gets two "no result" rows), and no task reopens it meanwhile."""
    connection = connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(_TAKE_LOCK_FOR_SESSION_SQL, _names(key))
        yield
    finally:
        connection.close()  # closing the session releases the lock


def mark_stream_running(url: str, key: StreamRunKey, expected: Sequence[str] = ()) -> bool:
    """Open the stream-level row of a run, or reopen it (a cleared run starts again); True when this call did.

    Process tasks of one run call this concurrently: a transaction-scoped advisory lock on the run
    makes exactly one of them insert the row. The statement that opens it also records `expected`, the
    process tasks of the DAG that runs (expected_prcs): a process registered after that DAG was built has no
    task in the run, so it is neither waited for nor recorded FAILED. None given: the run accounts for the
    processes that write rows in it. A reopen refreshes that set and start_ts: Airflow reruns a cleared run
    on the DAG as it is now, and the row tells of its latest pass (its status and end_ts already do).
    """
    values = _names(key) | {"dag_id": stream_dag_id(key.strem_nm), "hostname": socket.gethostname(),
                            "pid": os.getpid(), "expected": sorted(set(expected))}
    with transaction(url) as cursor:
        cursor.execute(_TAKE_LOCK_FOR_TRANSACTION_SQL, values)
        cursor.execute(_REOPEN_SQL, values)
        reopened = cursor.rowcount > 0
        cursor.execute(_OPEN_SQL, values)
        return reopened or cursor.rowcount > 0


def stream_run_row(url: str, key: StreamRunKey) -> LogEntry | None:
    """A stream run's stream-level row; None when no process opened one."""
    return find_stream_run_row(url, key.strem_nm, key.run_id)


def find_stream_run_row(url: str, strem_nm: str, run_id: str) -> LogEntry | None:
    """The stream-level row of the run Airflow names `run_id` in the stream; None when no process opened one.

    By Airflow's identity alone, for a caller that does not hold the run's StreamRunKey: a DAG callback in
    the dag-processor may not know the run's date, and this row is where it learns it.
    """
    with transaction(url) as cursor:
        cursor.execute(_ROW_SQL, {"strem_nm": strem_nm, "run_id": run_id})
        rows = entries(cursor)
    return rows[0] if rows else None


def mark_stream_finished(url: str, key: StreamRunKey, status: Status, message: str) -> None:
    """Close the stream-level row of a run (opened by mark_stream_running) with its final status."""
    with transaction(url) as cursor:
        cursor.execute(_FINISH_SQL, _names(key) | {"status": status, "message": message})


def stale_stream_runs(url: str, *, strem_nm: str | None = None, run_id: str | None = None) -> list[StreamRunKey]:
    """The RUNNING stream rows no process task will close, by construction (of one stream, or one run, if named).

    None while a process row of the run is RUNNING: that attempt closes the row when it ends (sweep
    abandoned attempts first, so RUNNING means alive). Otherwise a row is stale when
    - another run of the stream opened its row later: Airflow runs one run of a stream DAG at a time
      (max_active_runs=1), so this run is over and its DAG callback never ran. Backfill runs take no
      part: Airflow runs several at once, beside the others, up to the backfill's own limit;
    - or it is complete: every expected process has a row in the run and one was written since the
      row (re)opened (a cleared run just reopened has only its previous pass's rows).
    """
    with transaction(url) as cursor:
        cursor.execute(_STALE_SQL, {"strem_nm": strem_nm, "run_id": run_id, "backfill": BACKFILL_RUN_PREFIX})
        return [StreamRunKey(*row) for row in cursor.fetchall()]


def running_stream_runs(url: str) -> list[StreamRunKey]:
    """The stream runs whose row is RUNNING (open, by a live run or by one whose end nobody recorded)."""
    with transaction(url) as cursor:
        cursor.execute(_RUNNING_SQL)
        return [StreamRunKey(*row) for row in cursor.fetchall()]


def is_stale(url: str, key: StreamRunKey) -> bool:
    """Whether the run's row is one stale_stream_runs would close (checked again under the run's lock)."""
    return bool(stale_stream_runs(url, strem_nm=key.strem_nm, run_id=key.run_id))
