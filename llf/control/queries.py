"""Read-only queries the UI needs beyond status, snapshot and run log: the paginated log and stream runs.

The log grows without bound, so it is paged by keyset (`log_id < before`) on its primary key: every page
costs the same, however deep the user scrolls, and new rows arriving meanwhile never shift a page.
`streams` / `processes` restrict rows to what the caller may read (llf.ui.auth.Access.sql_filters); None
means no restriction. They filter in SQL, so pages stay full and their cursors stay right.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from llf.control.model import LogEntry, entries
from llf.db import one_row, transaction

MAX_PAGE = 500

# The JSON shape of each reader's rows (the UI's API, `llf log --json`): the fields each showed when it had a
# row type of its own, kept so scripts reading them see no change.
LOG_ROW_FIELDS = frozenset({"log_id", "strem_nm", "prcs_nm", "business_date", "status", "start_ts", "end_ts",
                            "message", "output_path", "run_id", "dag_id", "try_number", "tokens", "rqst_strem_nm",
                            "rqst_strem_run_id"})
STREAM_RUN_FIELDS = frozenset({"strem_nm", "business_date", "run_id", "status", "start_ts", "end_ts", "message"})
ATTEMPT_FIELDS = frozenset({"log_id", "strem_nm", "prcs_nm", "business_date", "run_id", "strem_run_id", "dag_id",
                            "task_id", "try_number", "status", "message", "start_ts", "end_ts", "output_path"})


class LogPage(BaseModel):
    rows: list[LogEntry]  # with their tokens
    next_before: int | None  # pass as `before` for the next (older) page; None on the last page


LOG_PAGE_SQL = """
SELECT l.log_id, l.strem_nm, l.prcs_nm, l.business_date, l.status, l.start_ts, l.end_ts, l.message,
       l.output_path, l.run_id, l.dag_id, l.try_number, l.rqst_strem_nm, l.rqst_strem_run_id,
       coalesce((SELECT sum(u.prompt_tokens + u.completion_tokens) FROM cntl_af.cntl_llm_usage u
                 WHERE u.log_id = l.log_id), 0) AS tokens
FROM cntl_af.cntl_cfg_log l
WHERE (%(stream)s::text IS NULL OR l.strem_nm = %(stream)s)
  AND (%(date)s::date IS NULL OR l.business_date = %(date)s)
  AND (%(status)s::text IS NULL OR l.status = %(status)s)
  AND (%(process)s::text IS NULL OR l.prcs_nm = %(process)s)
  AND (%(before)s::bigint IS NULL OR l.log_id < %(before)s)
  AND (%(streams)s::text[] IS NULL OR l.strem_nm = ANY(%(streams)s::text[])
       OR l.prcs_nm = ANY(%(processes)s::text[]))
ORDER BY l.log_id DESC
LIMIT %(limit)s
"""

# Stream-level rows (prcs_nm NULL): one per run of a stream DAG.
STREAM_RUNS_SQL = """
SELECT log_id, strem_nm, business_date, run_id, status, start_ts, end_ts, message
FROM cntl_af.cntl_cfg_log
WHERE prcs_nm IS NULL
  AND (%(stream)s::text IS NULL OR strem_nm = %(stream)s)
  AND (%(date)s::date IS NULL OR business_date = %(date)s)
  AND (%(streams)s::text[] IS NULL OR strem_nm = ANY(%(streams)s::text[]))
ORDER BY log_id DESC
LIMIT %(limit)s
"""

STREAM_RUN_SQL = """
SELECT log_id, strem_nm, business_date, run_id, status, start_ts, end_ts, message
FROM cntl_af.cntl_cfg_log
WHERE prcs_nm IS NULL AND strem_nm = %s AND run_id = %s
ORDER BY log_id DESC
LIMIT 1
"""

REGISTERED_NAMES_SQL = """
SELECT s.strem_nm, p.prcs_nm FROM cntl_af.cntl_cfg_strem s
LEFT JOIN cntl_af.cntl_cfg_prcs_grp g ON g.strem_id = s.strem_id
LEFT JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_grp_id = g.prcs_grp_id
"""

PROCESS_IS_KNOWN_SQL = """
SELECT EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_prcs WHERE prcs_nm = %(p)s)
    OR EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_log WHERE prcs_nm = %(p)s)
"""


def log_page(url: str, *, stream: str | None = None, business_date: dt.date | None = None,
             status: str | None = None, process: str | None = None, before: int | None = None,
             limit: int = 50, streams: list[str] | None = None, processes: list[str] | None = None) -> LogPage:
    """The newest `limit` log rows older than `before` matching the filters, and the cursor of the next page.

    A row is readable when its stream is in `streams` or its process in `processes`.
    """
    limit = max(1, min(limit, MAX_PAGE))
    parameters = {"stream": stream, "date": business_date, "status": status, "process": process,
                  "before": before, "limit": limit + 1,  # one extra row tells whether another page exists
                  "streams": streams, "processes": processes or []}
    with transaction(url) as cursor:
        cursor.execute(LOG_PAGE_SQL, parameters)
        rows = entries(cursor)
    more = len(rows) > limit
    rows = rows[:limit]
    return LogPage(rows=rows, next_before=rows[-1].log_id if more else None)


def stream_runs(url: str, *, stream: str | None = None, business_date: dt.date | None = None,
                limit: int = 20, streams: list[str] | None = None) -> list[LogEntry]:
    """The newest stream runs matching the filters (the timeline's entry points), of `streams` only: a stream
    run is readable through its stream alone."""
    with transaction(url) as cursor:
        cursor.execute(STREAM_RUNS_SQL, {"stream": stream, "date": business_date,
                                         "limit": max(1, min(limit, MAX_PAGE)), "streams": streams})
        return entries(cursor)


def stream_run(url: str, strem_nm: str, run_id: str) -> LogEntry | None:
    """One stream run by its stream and Airflow run id, or None."""
    with transaction(url) as cursor:
        cursor.execute(STREAM_RUN_SQL, (strem_nm, run_id))
        found = entries(cursor)
    return found[0] if found else None


def registered_names(url: str) -> list[tuple[str, str | None]]:
    """(stream, process) of every registered process, (stream, None) for a stream without any: the llf DAGs
    whose read permission the UI asks Airflow about (llf.ui.auth)."""
    with transaction(url) as cursor:
        cursor.execute(REGISTERED_NAMES_SQL)
        return [(strem_nm, prcs_nm) for strem_nm, prcs_nm in cursor.fetchall()]


def process_attempts(url: str, prcs_nm: str, last: int) -> list[LogEntry]:
    """The newest `last` attempts of one process, newest first (`llf log`): log_page's keyset pages, followed
    until `last` rows, so a long history costs a few bounded queries instead of one unbounded one."""
    rows: list[LogEntry] = []
    before: int | None = None
    while len(rows) < last:
        page = log_page(url, process=prcs_nm, before=before, limit=min(last - len(rows), MAX_PAGE))
        rows.extend(page.rows)
        if page.next_before is None:
            break
        before = page.next_before
    return rows


def process_is_known(url: str, prcs_nm: str) -> bool:
    """Whether the process is registered (active or not) or ever logged an attempt: tells a mistyped name
    apart from a process that never ran, and keeps the history of one whose registration was deleted."""
    with transaction(url) as cursor:
        cursor.execute(PROCESS_IS_KNOWN_SQL, {"p": prcs_nm})
        return bool(one_row(cursor)[0])
