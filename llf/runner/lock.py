"""At most once: a PostgreSQL advisory lock per (process, business date), held while the attempt runs.

A second run for the same process and date waits on the lock instead of polling the log, and when a
worker dies its connection closes and PostgreSQL releases the lock at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from llf.db import connect

# The two-integer advisory lock form: a fixed namespace, then a hash of process and date.
LOCK_NAMESPACE_SQL = "hashtext('llf.process-run')"


def lock_key_sql(prcs_nm_sql: str, business_date_sql: str) -> str:
    """SQL computing the lock key from two SQL expressions (the same formula for taking and inspecting)."""
    return f"hashtext({prcs_nm_sql} || '|' || ({business_date_sql})::text)"


@contextmanager
def process_run_lock(url: str, prcs_nm: str, business_date: dt.date) -> Iterator[None]:
    """Hold the run lock of a process and date for the duration of the block (waiting if it is taken)."""
    connection = connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT pg_advisory_lock({LOCK_NAMESPACE_SQL}, {lock_key_sql('%s', '%s::date')})",
                (prcs_nm, business_date),
            )
        yield
    finally:
        connection.close()  # closing the session releases the lock
