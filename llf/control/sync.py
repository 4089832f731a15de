"""`llf sync` and `llf export`: make the control tables match stream files, and write those files back.

A sync reads the registrations inside its own transaction, compares them with the files row by row and
applies every difference in that same transaction: all of it or, on any error, none of it. Rows of a
synced stream that its file no longer declares are deactivated (actv_flg = false), never deleted: the run
log and the stream runs refer to them by name. Only the streams named by the files are touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg2

from llf.control.declared import DeclaredStream, StreamFile
from llf.control.model import Snapshot, Stream
from llf.control.pins import Pin, declared_rows, pin_rows
from llf.control.repository import database_error, fetch_snapshot
from llf.db import transaction
from llf.exceptions import ControlDatabaseError, RegistrationError
from llf.text import one_line

# The order rows are written in: a row's parent before it, dependencies once every process exists.
TABLES = ("cntl_cfg_pool", "cntl_cfg_strem", "cntl_cfg_schedule", "cntl_cfg_prcs_grp", "cntl_cfg_prcs",
          "cntl_cfg_sys_file", "cntl_cfg_prcs_depn")
# Key columns that name a row in the output; strem_nm is a key of every row but shown only where it is the row.
_LABEL_KEYS = {"cntl_cfg_pool": ("pool_nm",), "cntl_cfg_strem": ("strem_nm",), "cntl_cfg_schedule": ("strem_nm",),
               "cntl_cfg_prcs_grp": ("strem_nm", "prcs_grp_nm"), "cntl_cfg_prcs": ("prcs_nm",),
               "cntl_cfg_sys_file": ("prcs_nm",), "cntl_cfg_prcs_depn": ("prcs_nm", "depn_prcs_nm")}
# One writer of registrations by sync at a time: the plan is made from what this transaction read.
_SYNC_LOCK = "SELECT pg_advisory_xact_lock(hashtext('llf sync'))"

Kind = Literal["added", "changed", "deactivated"]
RowKey = tuple[str, tuple[tuple[str, str], ...]]  # (table, ((key column, value), ...))


@dataclass(frozen=True)
class Change:
    """One row to add, change or deactivate; `columns` holds (column, old, new) of a changed row."""

    table: str
    key: dict[str, str]
    kind: Kind
    values: dict[str, Any]
    columns: tuple[tuple[str, Any, Any], ...] = ()

    @property
    def row(self) -> str:
        return ", ".join(f"{name}={self.key[name]}" for name in _LABEL_KEYS[self.table])

    def __str__(self) -> str:
        text = f"{self.kind:<11} {self.row}"
        if self.columns:
            text += ": " + "; ".join(f"{name} {_shown(old)} → {_shown(new)}" for name, old, new in self.columns)
        return text


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def sync(url: str, files: list[StreamFile], dry_run: bool = False) -> list[Change]:
    """Compare the files with the database and, unless `dry_run`, apply the changes in one transaction.

    RegistrationError (one line naming the file or row) on anything that cannot be applied; then nothing is.
    Pins no notebook: `sync_and_pin` does (what `llf sync` runs).
    """
    return sync_and_pin(url, files, None, dry_run).changes


@dataclass(frozen=True)
class Synced:
    """What a sync changed, and the notebooks it pinned (or would pin, in a dry run)."""

    changes: list[Change]
    pins: list[Pin]


def sync_and_pin(url: str, files: list[StreamFile], notebooks_dir: Path | None, dry_run: bool = False) -> Synced:
    """`sync`, then, in the same transaction, pin each notebook the files register that has no pin yet (a new
    row, a row pointed at another file, a row registered before pins): a pinned notebook that changed is
    re-pinned by `llf pin` only, after someone reviewed it. `notebooks_dir` None: no pinning."""
    _one_file_per_stream(files)
    declared = {process.name: process.notebook for file in files for _, process in file.stream.processes()}
    try:
        with transaction(url) as cursor:
            cursor.execute(_SYNC_LOCK)
            changes = plan(fetch_snapshot(cursor, url), files)
            if not dry_run:
                for change in changes:
                    _apply(cursor, change)
            pinned = [] if notebooks_dir is None else \
                pin_rows(cursor, declared_rows(cursor, declared), notebooks_dir, dry_run)
    except psycopg2.Error as error:
        raise RegistrationError(f"sync failed, nothing was applied: {database_error(error, url)}") from None
    except ControlDatabaseError as error:  # rows `llf validate` cannot read either
        raise RegistrationError(f"sync failed, nothing was applied: {error}") from None
    return Synced(changes, pinned)


def _one_file_per_stream(files: list[StreamFile]) -> None:
    streams: dict[str, StreamFile] = {}
    for file in files:
        other = streams.setdefault(file.stream.stream, file)
        if other is not file:
            raise RegistrationError(f"{file.point('stream')}: stream {file.stream.stream} is declared in "
                                    f"{other.path} too; keep one file per stream")


def plan(snapshot: Snapshot, files: list[StreamFile]) -> list[Change]:
    """Every change that makes the streams of `files` match them, in the order they can be applied."""
    _check_ownership(snapshot, files)
    changes = _pool_changes(snapshot, files)
    for file in files:
        changes += _diff(_declared_rows(file.stream), _registered_rows(snapshot, file.stream.stream))
    return sorted(changes, key=lambda c: (c.kind == "deactivated", TABLES.index(c.table)))


def _pool_changes(snapshot: Snapshot, files: list[StreamFile]) -> list[Change]:
    """The pools the files declare, added or changed. A pool no file declares is left as it is: pools are
    shared by every stream, so one stream's file cannot remove another's. Two files declaring one pool
    differently are refused: whichever was applied last would win."""
    declared: dict[RowKey, dict[str, Any]] = {}
    declared_in: dict[str, StreamFile] = {}
    for file in files:
        for index, pool in enumerate(file.stream.pools):
            key, values = _key("cntl_cfg_pool", pool_nm=pool.name), {"slots": pool.slots, "pool_desc": pool.description}
            other = declared_in.setdefault(pool.name, file)
            if declared.setdefault(key, values) != values:
                raise RegistrationError(f"{file.point('pools', index, 'name')}: pool {pool.name} is declared "
                                        f"differently in {other.path}; declare it alike in both, or in one file")
    registered = {_key("cntl_cfg_pool", pool_nm=p.pool_nm): {"slots": p.slots, "pool_desc": p.pool_desc}
                  for p in snapshot.pools}
    return _diff(declared, {key: registered[key] for key in declared if key in registered})


def _check_ownership(snapshot: Snapshot, files: list[StreamFile]) -> None:
    """Process names are unique across streams: a file may not take another stream's process, and may
    depend only on processes that a file declares or the database has."""
    declared: dict[str, StreamFile] = {}
    for file in files:
        for _, process in file.stream.processes():
            other = declared.setdefault(process.name, file)
            if other is not file:
                raise RegistrationError(f"{file.point(*file.process_loc(process.name))}: process {process.name} "
                                        f"is declared in {other.path} too (process names are unique across streams)")
    registered = {p.prcs_nm: snapshot.stream_of(p).strem_nm for p in snapshot.processes}
    for file in files:
        for _, process in file.stream.processes():
            owner = registered.get(process.name, file.stream.stream)
            if owner != file.stream.stream:
                raise RegistrationError(
                    f"{file.point(*file.process_loc(process.name))}: process {process.name} belongs to stream "
                    f"{owner}, not {file.stream.stream} (process names are unique across streams); rename it")
            for name in process.depends_on:
                if name not in declared and name not in registered:
                    raise RegistrationError(
                        f"{file.point(*file.process_loc(process.name)[:-1], 'depends_on')}: process "
                        f"{process.name} depends on {name}, which no file declares and no stream has registered")


def _declared_rows(stream: DeclaredStream) -> dict[RowKey, dict[str, Any]]:
    """The rows the file asks for, keyed like _registered_rows."""
    s = stream.stream
    rows = {_key("cntl_cfg_strem", strem_nm=s): {
        "strem_desc": stream.description, "owner_nm": stream.owner, "fail_policy": stream.fail_policy,
        "actv_flg": stream.active}}
    if stream.schedule:
        rows[_key("cntl_cfg_schedule", strem_nm=s)] = {
            "cron_expr": stream.schedule.cron, "timezone": stream.schedule.timezone}
    for group in stream.groups:
        rows[_key("cntl_cfg_prcs_grp", strem_nm=s, prcs_grp_nm=group.name)] = {
            "prcs_grp_desc": group.description, "priority": group.priority, "max_parallel": group.max_parallel,
            "actv_flg": group.active, "queue_nm": group.queue}
    for group, process in stream.processes():
        rows[_key("cntl_cfg_prcs", strem_nm=s, prcs_nm=process.name)] = {
            "prcs_grp_nm": group.name, "prcs_desc": process.description, "owner_nm": process.owner,
            "priority": process.priority, "params": process.params, "timeout_min": float(process.timeout_min),
            "retries": process.retries, "actv_flg": process.active, "queue_nm": process.queue,
            "pool_nm": process.pool, "pool_slots": process.pool_slots, "conn_ids": list(process.connections)}
        rows[_key("cntl_cfg_sys_file", strem_nm=s, prcs_nm=process.name)] = {"file_path": process.notebook}
        for name in process.depends_on:
            rows[_key("cntl_cfg_prcs_depn", strem_nm=s, prcs_nm=process.name, depn_prcs_nm=name)] = {
                "actv_flg": True}
    return rows


def _registered_rows(snapshot: Snapshot, strem_nm: str) -> dict[RowKey, dict[str, Any]]:
    """The rows the database has for one stream (none when it is new), in _declared_rows' terms."""
    stream = next((s for s in snapshot.streams if s.strem_nm == strem_nm), None)
    if stream is None:
        return {}
    rows = {_key("cntl_cfg_strem", strem_nm=strem_nm): {
        "strem_desc": stream.strem_desc, "owner_nm": stream.owner_nm, "fail_policy": stream.fail_policy,
        "actv_flg": stream.actv_flg}}
    schedule = snapshot.active_schedule(stream)
    if schedule:
        rows[_key("cntl_cfg_schedule", strem_nm=strem_nm)] = {
            "cron_expr": schedule.cron_expr, "timezone": schedule.timezone, "actv_flg": True}
    for group in snapshot.groups_by_stream_id.get(stream.strem_id, []):
        rows[_key("cntl_cfg_prcs_grp", strem_nm=strem_nm, prcs_grp_nm=group.prcs_grp_nm)] = {
            "prcs_grp_desc": group.prcs_grp_desc, "priority": group.priority,
            "max_parallel": group.max_parallel, "actv_flg": group.actv_flg, "queue_nm": group.queue_nm}
        for process in snapshot.processes_by_group_id.get(group.prcs_grp_id, []):
            rows.update(_registered_process_rows(snapshot, strem_nm, group.prcs_grp_nm, process.prcs_id))
    return rows


def _registered_process_rows(snapshot: Snapshot, strem_nm: str, prcs_grp_nm: str,
                             prcs_id: int) -> dict[RowKey, dict[str, Any]]:
    process = snapshot.process_by_id[prcs_id]
    rows = {_key("cntl_cfg_prcs", strem_nm=strem_nm, prcs_nm=process.prcs_nm): {
        "prcs_grp_nm": prcs_grp_nm, "prcs_desc": process.prcs_desc, "owner_nm": process.owner_nm,
        "priority": process.priority, "params": process.params, "timeout_min": process.timeout_min,
        "retries": process.retries, "actv_flg": process.actv_flg, "queue_nm": process.queue_nm,
        "pool_nm": process.pool_nm, "pool_slots": process.pool_slots, "conn_ids": list(process.conn_ids)}}
    system_file = snapshot.system_file_by_process_id.get(prcs_id)
    if system_file:
        rows[_key("cntl_cfg_sys_file", strem_nm=strem_nm, prcs_nm=process.prcs_nm)] = {
            "file_path": system_file.file_path}
    for row in snapshot.dependency_rows_by_process_id.get(prcs_id, []):
        depn_prcs_nm = snapshot.process_by_id[row.depn_prcs_id].prcs_nm
        rows[_key("cntl_cfg_prcs_depn", strem_nm=strem_nm, prcs_nm=process.prcs_nm,
                  depn_prcs_nm=depn_prcs_nm)] = {"actv_flg": row.actv_flg}
    return rows


def _key(table: str, **key: str) -> RowKey:
    return table, tuple(key.items())


def _diff(declared: dict[RowKey, dict[str, Any]], registered: dict[RowKey, dict[str, Any]]) -> list[Change]:
    """Added and changed rows of `declared`; active rows only `registered` has become deactivated ones."""
    changes = []
    for (table, key), values in declared.items():
        old = registered.get((table, key))
        if old is None:
            changes.append(Change(table, dict(key), "added", values))
            continue
        columns = tuple((name, old.get(name), new) for name, new in values.items() if not _same(old.get(name), new))
        if columns:
            changes.append(Change(table, dict(key), "changed", values, columns))
    for (table, key), old in registered.items():
        if (table, key) not in declared and old.get("actv_flg"):
            changes.append(Change(table, dict(key), "deactivated", {"actv_flg": False}))
    return changes


def _same(old: Any, new: Any) -> bool:
    """Equal as the database stores them: JSON compared as text, since True == 1 and 1 == 1.0 in Python."""
    if isinstance(new, dict | list) or isinstance(old, dict | list):
        return json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True)
    if isinstance(new, bool) or isinstance(old, bool):
        return old is new
    return old == new


_STREAM = "(SELECT strem_id FROM cntl_af.cntl_cfg_strem WHERE strem_nm = %(strem_nm)s)"
_GROUP = (f"(SELECT prcs_grp_id FROM cntl_af.cntl_cfg_prcs_grp WHERE strem_id = {_STREAM} "
          "AND prcs_grp_nm = %(prcs_grp_nm)s)")
_PROCESS = "(SELECT prcs_id FROM cntl_af.cntl_cfg_prcs WHERE prcs_nm = {})"
# Added or changed rows: one upsert per table, so an added row someone registered meanwhile is updated instead.
# The process upsert only takes over a row of this stream (WHERE below): the plan checked that, and a row
# moved to another stream since then makes the statement touch nothing, which _apply refuses.
_UPSERT = {
    "cntl_cfg_pool": "INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots, pool_desc) "
                     "VALUES (%(pool_nm)s, %(slots)s, %(pool_desc)s) "
                     "ON CONFLICT (pool_nm) DO UPDATE SET slots = EXCLUDED.slots, pool_desc = EXCLUDED.pool_desc, "
                     "updated_ts = now()",
    "cntl_cfg_strem": "INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, strem_desc, owner_nm, fail_policy, actv_flg) "
                      "VALUES (%(strem_nm)s, %(strem_desc)s, %(owner_nm)s, %(fail_policy)s, %(actv_flg)s) "
                      "ON CONFLICT (strem_nm) DO UPDATE SET strem_desc = EXCLUDED.strem_desc, "
                      "owner_nm = EXCLUDED.owner_nm, fail_policy = EXCLUDED.fail_policy, "
                      "actv_flg = EXCLUDED.actv_flg, updated_ts = now()",
    "cntl_cfg_prcs_grp": "INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, prcs_grp_desc, priority, "
                         f"max_parallel, actv_flg, queue_nm) SELECT {_STREAM}, %(prcs_grp_nm)s, %(prcs_grp_desc)s, "
                         "%(priority)s, %(max_parallel)s, %(actv_flg)s, %(queue_nm)s "
                         "ON CONFLICT (strem_id, prcs_grp_nm) DO UPDATE SET prcs_grp_desc = EXCLUDED.prcs_grp_desc, "
                         "priority = EXCLUDED.priority, max_parallel = EXCLUDED.max_parallel, "
                         "actv_flg = EXCLUDED.actv_flg, queue_nm = EXCLUDED.queue_nm, updated_ts = now()",
    "cntl_cfg_prcs": "INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, prcs_desc, owner_nm, priority, "
                     "params, timeout_min, retries, actv_flg, queue_nm, pool_nm, pool_slots, conn_ids) "
                     f"SELECT {_GROUP}, %(prcs_nm)s, %(prcs_desc)s, %(owner_nm)s, %(priority)s, %(params)s::jsonb, "
                     "%(timeout_min)s, %(retries)s, %(actv_flg)s, %(queue_nm)s, %(pool_nm)s, %(pool_slots)s, "
                     "%(conn_ids)s::text[] "
                     "ON CONFLICT (prcs_nm) DO UPDATE SET prcs_grp_id = EXCLUDED.prcs_grp_id, "
                     "prcs_desc = EXCLUDED.prcs_desc, owner_nm = EXCLUDED.owner_nm, priority = EXCLUDED.priority, "
                     "params = EXCLUDED.params, timeout_min = EXCLUDED.timeout_min, retries = EXCLUDED.retries, "
                     "actv_flg = EXCLUDED.actv_flg, queue_nm = EXCLUDED.queue_nm, pool_nm = EXCLUDED.pool_nm, "
                     "pool_slots = EXCLUDED.pool_slots, conn_ids = EXCLUDED.conn_ids, updated_ts = now() "
                     "WHERE cntl_cfg_prcs.prcs_grp_id IN (SELECT prcs_grp_id FROM cntl_af.cntl_cfg_prcs_grp "
                     f"WHERE strem_id = {_STREAM})",
    "cntl_cfg_sys_file": "INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) "
                         f"SELECT {_PROCESS.format('%(prcs_nm)s')}, %(file_path)s "
                         "ON CONFLICT (prcs_id) DO UPDATE SET file_path = EXCLUDED.file_path, updated_ts = now()",
    "cntl_cfg_prcs_depn": "INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id, actv_flg) "
                          f"SELECT {_PROCESS.format('%(prcs_nm)s')}, {_PROCESS.format('%(depn_prcs_nm)s')}, true "
                          "ON CONFLICT (prcs_id, depn_prcs_id) DO UPDATE SET actv_flg = true",
}
# A schedule has no natural key: the stream's active one is changed, else its latest one reactivated.
_SCHEDULE_UPDATE = ("UPDATE cntl_af.cntl_cfg_schedule SET cron_expr = %(cron_expr)s, timezone = %(timezone)s, "
                    "actv_flg = true, updated_ts = now() WHERE schedule_id = (SELECT schedule_id FROM "
                    f"cntl_af.cntl_cfg_schedule WHERE strem_id = {_STREAM} "
                    "ORDER BY actv_flg DESC, schedule_id DESC LIMIT 1)")
_SCHEDULE_INSERT = ("INSERT INTO cntl_af.cntl_cfg_schedule (strem_id, cron_expr, timezone) "
                    f"SELECT {_STREAM}, %(cron_expr)s, %(timezone)s")
_DEACTIVATE = {
    "cntl_cfg_schedule": f"UPDATE cntl_af.cntl_cfg_schedule SET actv_flg = false, updated_ts = now() "
                         f"WHERE actv_flg AND strem_id = {_STREAM}",
    "cntl_cfg_prcs_grp": f"UPDATE cntl_af.cntl_cfg_prcs_grp SET actv_flg = false, updated_ts = now() "
                         f"WHERE prcs_grp_id = {_GROUP}",
    "cntl_cfg_prcs": "UPDATE cntl_af.cntl_cfg_prcs SET actv_flg = false, updated_ts = now() "
                     "WHERE prcs_nm = %(prcs_nm)s",
    "cntl_cfg_prcs_depn": "UPDATE cntl_af.cntl_cfg_prcs_depn SET actv_flg = false "
                          f"WHERE prcs_id = {_PROCESS.format('%(prcs_nm)s')} "
                          f"AND depn_prcs_id = {_PROCESS.format('%(depn_prcs_nm)s')}",
}


def _apply(cursor: psycopg2.extensions.cursor, change: Change) -> None:
    """Write one change; a statement that touches no row means the database moved under the plan."""
    parameters = {**change.key, **change.values}
    if "params" in parameters:
        parameters["params"] = json.dumps(parameters["params"])
    if change.kind == "deactivated":
        cursor.execute(_DEACTIVATE[change.table], parameters)
    elif change.table == "cntl_cfg_schedule":
        cursor.execute(_SCHEDULE_UPDATE, parameters)
        if cursor.rowcount == 0:
            cursor.execute(_SCHEDULE_INSERT, parameters)
    else:
        cursor.execute(_UPSERT[change.table], parameters)
    if cursor.rowcount < 1:
        raise RegistrationError(f"{change.table} ({change.row}): the row changed while syncing (another stream "
                                "took it); nothing was applied, run the sync again")


def _pools_taken(snapshot: Snapshot, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The registered pools the stream's processes take, by name: a file declares what its processes need,
    so syncing it alone on an empty database registers them. A pool nobody registered is left out
    (`llf validate` names the process)."""
    taken = {process["pool"] for group in groups for process in group["processes"]}
    return [{"name": pool.pool_nm, "slots": pool.slots, "description": pool.pool_desc}
            for name, pool in sorted(snapshot.pool_by_name.items()) if name in taken]


def registered_streams(snapshot: Snapshot, names: Iterable[str] | None = None) -> list[Stream]:
    """The streams to export, by name; RegistrationError naming one that is not registered."""
    by_name = {stream.strem_nm: stream for stream in snapshot.streams}
    if names is None:
        return [by_name[name] for name in sorted(by_name)]
    missing = [name for name in names if name not in by_name]
    if missing:
        raise RegistrationError(f"stream {missing[0]} is not registered (cntl_af.cntl_cfg_strem)")
    return [by_name[name] for name in names]


def export(snapshot: Snapshot, stream: Stream) -> DeclaredStream:
    """The file that declares `stream` as registered: every group and process, active or not, so syncing it
    back changes nothing; groups and processes in run order, dependencies by name."""
    groups = []
    for group in snapshot.groups_by_stream_id.get(stream.strem_id, []):
        processes = []
        for process in snapshot.processes_by_group_id.get(group.prcs_grp_id, []):
            system_file = snapshot.system_file_by_process_id.get(process.prcs_id)
            if system_file is None:
                raise RegistrationError(f"cntl_cfg_prcs (prcs_nm={process.prcs_nm}): the process has no notebook "
                                        f"(cntl_cfg_sys_file), so stream {stream.strem_nm} cannot be exported; "
                                        "register its file first")
            processes.append({
                "name": process.prcs_nm, "description": process.prcs_desc, "notebook": system_file.file_path,
                "owner": process.owner_nm, "priority": process.priority, "params": process.params,
                "timeout_min": process.timeout_min, "retries": process.retries, "active": process.actv_flg,
                "depends_on": [p.prcs_nm for p in snapshot.dependencies_of(process)], "queue": process.queue_nm,
                "pool": process.pool_nm, "pool_slots": process.pool_slots, "connections": list(process.conn_ids)})
        groups.append({"name": group.prcs_grp_nm, "description": group.prcs_grp_desc, "priority": group.priority,
                       "max_parallel": group.max_parallel, "active": group.actv_flg, "queue": group.queue_nm,
                       "processes": processes})
    schedule = snapshot.active_schedule(stream)
    document = {"stream": stream.strem_nm, "description": stream.strem_desc, "owner": stream.owner_nm,
                "fail_policy": stream.fail_policy, "active": stream.actv_flg, "groups": groups,
                "pools": _pools_taken(snapshot, groups),
                "schedule": {"cron": schedule.cron_expr, "timezone": schedule.timezone} if schedule else None}
    try:
        return DeclaredStream.model_validate(document)
    except ValueError as error:  # pydantic's ValidationError: rows older than the bounds (llf validate names them)
        raise RegistrationError(f"stream {stream.strem_nm} cannot be exported: "
                                f"{one_line(error)[:300]}; run `llf validate` and fix the rows") from None
