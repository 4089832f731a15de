"""Reads registrations from the control database: the whole snapshot, the part one task's DAG needs, and
what one run needs fresh.

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



def _snapshot_sql(where: dict[str, str] | None = None, prefix: str = "", extra: str = "") -> str:
    """The one statement reading the tables of _TABLES as a snapshot document; `where` filters the rows of
    some of them (by key), `prefix` defines what those filters name, `extra` adds keys. Built from the
    constants of this module, never from user input."""
    where = where or {}
    return prefix + "SELECT json_build_object('taken_at', now(), {}{}) ".format(
        ", ".join(
            f"'{key}', (SELECT coalesce(json_agg({row} ORDER BY {order}), '[]'::json) FROM cntl_af.{table} t"
            f"{' WHERE ' + where[key] if key in where else ''})"
            for key, (table, order, row) in _TABLES.items()
        ),
        extra,
    )


SNAPSHOT_SQL = _snapshot_sql()

# The streams a task's DAG is built from: the stream named, or the one of the process named, and then again and
# again the streams of the processes their processes depend on (every dependency row, active or not: validation
# names an inactive one). Whole streams, so their validation, the spreading of an invalid stream to its
# dependants and the run bounds through the dependencies come out as from the whole snapshot.
_TASK_STREAMS = """WITH RECURSIVE wanted (strem_id) AS (
    SELECT s.strem_id FROM cntl_af.cntl_cfg_strem s WHERE s.strem_nm = %(strem_nm)s
    UNION SELECT g.strem_id FROM cntl_af.cntl_cfg_prcs_grp g JOIN cntl_af.cntl_cfg_prcs p USING (prcs_grp_id)
          WHERE p.prcs_nm = %(prcs_nm)s
    UNION SELECT dg.strem_id FROM wanted w
          JOIN cntl_af.cntl_cfg_prcs_grp g ON g.strem_id = w.strem_id
          JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_grp_id = g.prcs_grp_id
          JOIN cntl_af.cntl_cfg_prcs_depn d ON d.prcs_id = p.prcs_id
          JOIN cntl_af.cntl_cfg_prcs q ON q.prcs_id = d.depn_prcs_id
          JOIN cntl_af.cntl_cfg_prcs_grp dg ON dg.prcs_grp_id = q.prcs_grp_id
), wanted_processes AS (
    SELECT p.prcs_id FROM cntl_af.cntl_cfg_prcs p JOIN cntl_af.cntl_cfg_prcs_grp g USING (prcs_grp_id)
    WHERE g.strem_id IN (SELECT strem_id FROM wanted)
) """
_IN_STREAMS = "t.strem_id IN (SELECT strem_id FROM wanted)"
_IN_PROCESSES = "t.prcs_id IN (SELECT prcs_id FROM wanted_processes)"
# What Catalog.most_waiting_triggers counts over the whole catalog (every active stream in its widest active group),
# which a stream DAG's waiting mode depends on (llf.dagbuild.stream_dag.triggers_defer).
_WAITING_TRIGGERS = (
    ", 'waiting_triggers', (SELECT coalesce(sum(widest), 0) FROM (SELECT max(g.max_parallel) AS widest "
    "FROM cntl_af.cntl_cfg_strem s JOIN cntl_af.cntl_cfg_prcs_grp g USING (strem_id) "
    "WHERE s.actv_flg AND g.actv_flg GROUP BY s.strem_id) w)"
)
TASK_SNAPSHOT_SQL = _snapshot_sql(
    {"streams": _IN_STREAMS, "groups": _IN_STREAMS, "schedules": _IN_STREAMS, "processes": _IN_PROCESSES,
     "system_files": _IN_PROCESSES, "dependencies": _IN_PROCESSES},
    prefix=_TASK_STREAMS, extra=_WAITING_TRIGGERS,
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


@dataclass(frozen=True)
class TaskSnapshot:
    """The rows one DAG of one task is built from (read_task_snapshot), and the one figure of the whole
    catalog its build needs."""

    snapshot: Snapshot
    waiting_triggers: int  # Catalog.most_waiting_triggers over every active stream


def read_task_snapshot(url: str, *, strem_nm: str | None = None, prcs_nm: str | None = None,
                       timeout_seconds: float = 20.0) -> TaskSnapshot:
    """The registrations a task's DAG needs, in one statement: the stream named (or the one of the process
    named), the streams it depends on (_TASK_STREAMS), every pool. Empty when neither is registered.
    `timeout_seconds` bounds the statement (waiting behind a migration's lock, say), so the task's parse can
    still say why it failed before Airflow's import timeout ends it.

    Why not the whole snapshot: a Celery worker that ran nothing for a while starts each task with a parse,
    and reading and validating every registration there costs the whole catalog per task start."""
    connection = connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = %s", (max(1, int(timeout_seconds * 1000)),))
            document = _fetch_document(cursor, url, TASK_SNAPSHOT_SQL, {"strem_nm": strem_nm, "prcs_nm": prcs_nm})
            return TaskSnapshot(_validated(document, url), int(document.get("waiting_triggers") or 0))
    except psycopg2.Error as error:
        raise database_error(error, url) from error
    finally:
        connection.close()


def fetch_snapshot(cursor: psycopg2.extensions.cursor, url: str) -> Snapshot:
    """The snapshot read with `cursor`, inside the caller's transaction (`llf sync` plans its changes from it),
    as a Snapshot; one ControlDatabaseError naming the fix when the rows cannot be read, so every reader of
    the snapshot fails alike. psycopg2 errors are left to the caller, who knows what failed with them."""
    return _validated(_fetch_document(cursor, url, SNAPSHOT_SQL), url)


def _fetch_document(cursor: psycopg2.extensions.cursor, url: str, statement: str,
                    parameters: dict[str, str | None] | None = None) -> dict:
    """The snapshot document one statement builds; JSON nested beyond what Python reads as one sentence."""
    try:
        cursor.execute(statement, parameters)
        (document,) = one_row(cursor)
        return document
    except RecursionError as error:  # JSON nested beyond what Python reads, outside params (a site's own column)
        raise _too_deep(url) from error


def _validated(document: dict, url: str) -> Snapshot:
    """The document as a Snapshot; rows llf cannot read as one ControlDatabaseError naming the first."""
    try:
        return Snapshot.model_validate(document)
    except RecursionError as error:  # the same, should the validator recurse deeper than the reader did
        raise _too_deep(url) from error
    except ValidationError as error:
        first = error.errors()[0]
        raise ControlDatabaseError(
            f"The control tables at {redact(url)} hold rows llf cannot read ({error.error_count()} error(s), "
            f"first at {'.'.join(map(str, first['loc']))}: {first['msg']}). "
            "Fix: run `llf db upgrade`, then correct the rows named."
        ) from error


def _too_deep(url: str) -> ControlDatabaseError:
    return ControlDatabaseError(f"The control tables at {redact(url)} hold JSON nested too deeply to read.")


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
    content_sha256: str | None = None  # the notebook's pin (llf.control.pins); None: not pinned
    conn_ids: tuple[str, ...] = ()  # the Airflow connections its notebook gets, and no other (0028)
    strem_id: int | None = None  # the stream the process belongs to: its kernel runs as that stream's user
    strem_nm: str | None = None  # that stream's name: the part of the lake its notebooks write (streams/<name>/)


def process_registration(url: str, prcs_nm: str) -> Registration:
    """The registration of one process; ProcessFailed when it has none (the run ends with that message)."""
    with transaction(url) as cursor:
        cursor.execute(
            "SELECT f.file_path, p.timeout_min, p.params, coalesce(array_agg(d.prcs_nm ORDER BY d.prcs_nm) "
            "FILTER (WHERE d.prcs_nm IS NOT NULL), '{}'), f.content_sha256, p.conn_ids, g.strem_id, s.strem_nm "
            "FROM cntl_af.cntl_cfg_prcs p LEFT JOIN cntl_af.cntl_cfg_sys_file f USING (prcs_id) "
            "JOIN cntl_af.cntl_cfg_prcs_grp g ON g.prcs_grp_id = p.prcs_grp_id "
            "JOIN cntl_af.cntl_cfg_strem s ON s.strem_id = g.strem_id "
            "LEFT JOIN cntl_af.cntl_cfg_prcs_depn pd ON pd.prcs_id = p.prcs_id AND pd.actv_flg "
            "LEFT JOIN cntl_af.cntl_cfg_prcs d ON d.prcs_id = pd.depn_prcs_id "
            "WHERE p.prcs_nm = %s GROUP BY p.prcs_id, f.file_path, f.content_sha256, g.strem_id, s.strem_nm",
            (prcs_nm,),
        )
        row = cursor.fetchone()
    if row is None:
        raise ProcessFailed(f"process {prcs_nm} is not registered in cntl_af.cntl_cfg_prcs")
    file_path, timeout_min, params, dependencies, content_sha256, conn_ids, strem_id, strem_nm = row
    return Registration(file_path, float(timeout_min), params, list(dependencies), content_sha256, tuple(conn_ids),
                        strem_id, strem_nm)


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
