"""Reads registrations from the control database.

One statement builds the whole snapshot as JSON inside PostgreSQL: one round trip, and one MVCC
snapshot, so a registration committed half-way through can never be seen half.

Every failure after connecting (schema not upgraded, connection dropped mid-query, rows llf cannot
read) becomes a ControlDatabaseError naming the fix, like a failed connect: the DAG builder then serves
its last snapshot and `llf validate` prints one line instead of a traceback.
"""

from __future__ import annotations

import psycopg2
from psycopg2 import errorcodes
from pydantic import ValidationError

from llf.control.model import PARAMS_MAX_DEPTH, TOO_DEEP_PARAMS, Snapshot
from llf.db import connect, redact
from llf.exceptions import ControlDatabaseError

# params nested deeper than PARAMS_MAX_DEPTH (rows older than control_sql/0023) are replaced by the string
# TOO_DEEP_PARAMS: Python's JSON reader gives up around 1000 levels, and one such row must not make the
# whole snapshot unreadable. Validation then names the row.
_PROCESS_ROW = (
    "to_jsonb(t) || jsonb_build_object('params', CASE WHEN jsonb_path_exists(t.params, "
    f"'strict $.**{{{PARAMS_MAX_DEPTH + 1}}}') THEN to_jsonb('{TOO_DEEP_PARAMS}'::text) ELSE t.params END)"
)

# key: (table, order, row expression)
_TABLES = {
    "streams": ("cntl_cfg_strem", "strem_id", "t"),
    "groups": ("cntl_cfg_prcs_grp", "prcs_grp_id", "t"),
    "processes": ("cntl_cfg_prcs", "prcs_id", _PROCESS_ROW),
    "system_files": ("cntl_cfg_sys_file", "sys_file_id", "t"),
    "dependencies": ("cntl_cfg_prcs_depn", "prcs_id, depn_prcs_id", "t"),
    "schedules": ("cntl_cfg_schedule", "schedule_id", "t"),
}

# Built from the constants above, never from user input.
SNAPSHOT_SQL = "SELECT json_build_object('taken_at', now(), {}) ".format(
    ", ".join(
        f"'{key}', (SELECT coalesce(json_agg({row} ORDER BY {order}), '[]'::json) FROM cntl_af.{table} t)"
        for key, (table, order, row) in _TABLES.items()
    )
)

# What a database without (all of) the control schema answers.
_NOT_UPGRADED = {
    errorcodes.INVALID_SCHEMA_NAME,
    errorcodes.UNDEFINED_TABLE,
    errorcodes.UNDEFINED_COLUMN,
    errorcodes.UNDEFINED_FUNCTION,
}


def read_snapshot(url: str) -> Snapshot:
    """All registrations, active or not, as one consistent snapshot."""
    connection = connect(url)  # its errors (unreachable, malformed URL) name the URL without its secrets
    try:
        with connection.cursor() as cursor:
            cursor.execute(SNAPSHOT_SQL)
            (document,) = cursor.fetchone()
    except psycopg2.Error as error:
        raise _read_error(url, error) from error
    except RecursionError as error:  # JSON nested beyond what Python reads, outside params
        raise ControlDatabaseError(f"The control tables at {redact(url)} hold JSON nested too deeply to read.") \
            from error
    finally:
        connection.close()
    try:
        return Snapshot.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        raise ControlDatabaseError(
            f"The control tables at {redact(url)} hold rows llf cannot read ({error.error_count()} error(s), "
            f"first at {'.'.join(map(str, first['loc']))}: {first['msg']}). "
            "Fix: run `llf db upgrade`, then correct the rows named."
        ) from error


def _read_error(url: str, error: psycopg2.Error) -> ControlDatabaseError:
    diagnostic = getattr(error, "diag", None)
    detail = " ".join(((diagnostic and diagnostic.message_primary) or str(error)).split()) or type(error).__name__
    if error.pgcode in _NOT_UPGRADED:
        return ControlDatabaseError(
            f"The control schema cntl_af at {redact(url)} is missing or not upgraded ({detail}). "
            "Fix: run `llf db upgrade`."
        )
    return ControlDatabaseError(f"Reading the control tables at {redact(url)} failed: {detail}")
