"""Reads registrations from the control database: the whole snapshot, and what one run needs fresh.

One statement builds the whole snapshot as JSON inside PostgreSQL: one round trip, and one MVCC
snapshot, so a registration committed half-way through can never be seen half.

Every failure after connecting (schema not upgraded, connection dropped mid-query, rows llf cannot
read) becomes a ControlDatabaseError naming the fix, like a failed connect: the DAG builder then serves
its last snapshot and `llf validate` prints one line instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2
from psycopg2 import errorcodes
from pydantic import ValidationError

from llf.control.model import PARAMS_MAX_DEPTH, TOO_DEEP_PARAMS, Snapshot
from llf.db import connect, one_row, transaction
from llf.exceptions import ControlDatabaseError, ProcessFailed
from llf.secrets import redact
from llf.text import one_line

# params nested deeper than PARAMS_MAX_DEPTH (rows older than llf/control/sql/0023) are replaced by the string
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
    "pools": ("cntl_cfg_pool", "pool_nm", "t"),
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
            return fetch_snapshot(cursor, url)
    except psycopg2.Error as error:
        raise database_error(error, url) from error
    finally:
        connection.close()


def fetch_snapshot(cursor: psycopg2.extensions.cursor, url: str) -> Snapshot:
    """The snapshot read with `cursor`, inside the caller's transaction (`llf sync` plans its changes from it),
    as a Snapshot; one ControlDatabaseError naming the fix when the rows cannot be read, so every reader of
    the snapshot fails alike. psycopg2 errors are left to the caller, who knows what failed with them."""
    try:
        cursor.execute(SNAPSHOT_SQL)
        (document,) = one_row(cursor)
        return Snapshot.model_validate(document)
    except RecursionError as error:  # JSON nested beyond what Python reads, outside params (a site's own column)
        raise ControlDatabaseError(f"The control tables at {redact(url)} hold JSON nested too deeply to read.") \
            from error
    except ValidationError as error:
        first = error.errors()[0]
        raise ControlDatabaseError(
            f"The control tables at {redact(url)} hold rows llf cannot read ({error.error_count()} error(s), "
            f"first at {'.'.join(map(str, first['loc']))}: {first['msg']}). "
            "Fix: run `llf db upgrade`, then correct the rows named."
        ) from error


def database_error(error: psycopg2.Error, url: str | None = None) -> ControlDatabaseError:
    """A failed statement on the control tables as one sentence naming the fix (`llf db upgrade` when the
    schema is missing). Only the server's primary message is quoted: it names no URL, so no secret."""
    diagnostic = getattr(error, "diag", None)
    detail = one_line((diagnostic and diagnostic.message_primary) or str(error)) or type(error).__name__
    where = f" at {redact(url)}" if url else ""
    if error.pgcode in _NOT_UPGRADED:
        return ControlDatabaseError(
            f"The control schema cntl_af{where} is missing or not upgraded ({detail}). Fix: run `llf db upgrade`."
        )
    return ControlDatabaseError(f"A statement on the control tables{where} failed: {detail}")


@dataclass(frozen=True)
class Registration:
    """What a run needs from the control tables, read fresh at run time (the DAG may be up to a refresh old)."""

    file_path: str | None
    timeout_min: float
    params: dict
    dependencies: list[str]


def process_registration(url: str, prcs_nm: str) -> Registration:
    """The registration of one process; ProcessFailed when it has none (the run ends with that message)."""
    with transaction(url) as cursor:
        cursor.execute(
            "SELECT f.file_path, p.timeout_min, p.params, coalesce(array_agg(d.prcs_nm ORDER BY d.prcs_nm) "
            "FILTER (WHERE d.prcs_nm IS NOT NULL), '{}') "
            "FROM cntl_af.cntl_cfg_prcs p LEFT JOIN cntl_af.cntl_cfg_sys_file f USING (prcs_id) "
            "LEFT JOIN cntl_af.cntl_cfg_prcs_depn pd ON pd.prcs_id = p.prcs_id AND pd.actv_flg "
            "LEFT JOIN cntl_af.cntl_cfg_prcs d ON d.prcs_id = pd.depn_prcs_id "
            "WHERE p.prcs_nm = %s GROUP BY f.file_path, p.timeout_min, p.params",
            (prcs_nm,),
        )
        row = cursor.fetchone()
    if row is None:
        raise ProcessFailed(f"process {prcs_nm} is not registered in cntl_af.cntl_cfg_prcs")
    file_path, timeout_min, params, dependencies = row
    return Registration(file_path, float(timeout_min), params, list(dependencies))


def stream_processes(url: str, strem_nm: str) -> tuple[str, list[str]]:
    """(fail_policy, active process names) of a stream, read fresh: what a stream run's closer decides by."""
    with transaction(url) as cursor:
        cursor.execute(
            "SELECT s.fail_policy, coalesce(array_agg(p.prcs_nm ORDER BY p.prcs_nm) "
            "FILTER (WHERE p.prcs_nm IS NOT NULL), '{}') FROM cntl_af.cntl_cfg_strem s "
            "LEFT JOIN cntl_af.cntl_cfg_prcs_grp g ON g.strem_id = s.strem_id AND g.actv_flg "
            "LEFT JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_grp_id = g.prcs_grp_id AND p.actv_flg "
            "WHERE s.strem_nm = %s GROUP BY s.fail_policy",
            (strem_nm,),
        )
        row = cursor.fetchone()
    return (row[0], list(row[1])) if row else ("CONTINUE", [])
