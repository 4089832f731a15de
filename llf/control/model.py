"""Typed records of the control tables and the snapshot that carries all of them at once.

The snapshot holds every row, active or not, so validation can say "depends on an inactive process";
the `active_*` views give what Airflow should show.

The bounds below are what a registration can never sensibly exceed; llf/control/sql/0023 makes the database
refuse the same values for new rows and `llf validate` reports rows older than that migration.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from llf.settings import CONTROL_CONNECTION_ID, NOTEBOOK_CONNECTION_ID, VECTORS_CONNECTION_ID

# Minutes: a notebook run of more than a week is a hung run, and Airflow's execution_timeout is built from it.
TIMEOUT_MIN_MAX = 10080
# What bounds one attempt's time, written once (the runner, the DAG builders and the docs, "Run semantics", use it):
# the notebook runs at most timeout_min (the runner kills its kernel then); before it, the attempt waits at
# most lock_wait_limit for the run lock (another attempt of the same process and date holds it for at most its
# own timeout_min, the same registration's); Airflow's execution_timeout covers both plus a margin, as a backstop.
TIMEOUT_MARGIN = timedelta(minutes=5)


def lock_wait_limit(timeout_min: float) -> timedelta:
    """The longest an attempt waits for its run lock: the holder's notebook time (the same process's
    timeout_min) plus the margin its closing steps may take."""
    return timedelta(minutes=timeout_min) + TIMEOUT_MARGIN


def task_timeout(timeout_min: float) -> timedelta:
    """Airflow's execution_timeout of a task running the process: the lock wait, the notebook, and a margin."""
    return lock_wait_limit(timeout_min) + timedelta(minutes=timeout_min) + TIMEOUT_MARGIN


# Processes of one group at once: beyond Airflow's default [core] parallelism (32) twice over.
MAX_PARALLEL_MAX = 64
# Airflow retries of one notebook run: more is a loop, not a retry policy.
RETRIES_MAX = 100
# Nesting of params: notebook parameters are flat values; JSON deeper than this cannot be read back safely.
PARAMS_MAX_DEPTH = 32
# What the snapshot holds instead of params nested deeper (llf.control.repository), for validation to name.
TOO_DEEP_PARAMS = f"params nested deeper than {PARAMS_MAX_DEPTH} levels (not read)"
# Airflow keeps a DAG's owners in a 2000-character column, its task ids in 250, a schedule's description in 1000.
OWNER_MAX_LENGTH = 2000
AIRFLOW_ID_MAX_LENGTH = 250
CRON_DESCRIPTION_MAX_LENGTH = 1000
# What the database allows as a stream, group or process name (the CHECKs of control_sql/0002-0004): each
# becomes part of a DAG, task group or task id.
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,200}$"
# The task every stream DAG ends with; a group id equal to it would collide with it.
FINISH_STREAM_TASK_ID = "finish_stream"
RESERVED_GROUP_IDS = frozenset({FINISH_STREAM_TASK_ID})
# Where a process runs when its registration says nothing (llf/control/sql/0026): Airflow's [operators]
# default_queue, and a pool_slots of 1 of Airflow's default_pool.
DEFAULT_QUEUE = "default"
AIRFLOW_DEFAULT_POOL = "default_pool"  # Airflow's own pool, never registered in cntl_cfg_pool
# The CHECKs of llf/control/sql/0026: the slots a process takes, and the slots a pool has.
POOL_SLOTS_MAX = 1000
POOL_SIZE_MAX = 10000
# The Airflow connections a process may name for its notebook (cntl_cfg_prcs.conn_ids, llf/control/sql/0028): at most
# this many, each an id like a name, never one of the platform's own (llf.settings), compared in upper case as
# Airflow's environment-variable backend reads them (AIRFLOW_CONN_CNTL_AF is found for cntl_af and CNTL_AF alike).
CONN_IDS_MAX = 50
PLATFORM_CONNECTION_IDS = (CONTROL_CONNECTION_ID, NOTEBOOK_CONNECTION_ID, VECTORS_CONNECTION_ID)


def conn_ids_problems(conn_ids: Sequence[str]) -> list[str]:
    """What is wrong with a process's connection ids, one sentence each (none: fine): the CHECKs of 0028, said
    the same way by the stream files, `llf validate` and the runner, which refuses them again before any lookup
    (the database's constraint is not the only thing standing between a notebook and the owner's URL)."""
    problems = []
    if len(conn_ids) > CONN_IDS_MAX:
        problems.append(f"{len(conn_ids)} connections are named; at most {CONN_IDS_MAX}")
    malformed = [conn_id for conn_id in conn_ids if not re.match(NAME_PATTERN, str(conn_id))]
    if malformed:
        problems.append(f"connection id {str(malformed[0])[:200]!r} is not 1 to 200 letters, digits, _ . or -")
    reserved = sorted({str(conn_id) for conn_id in conn_ids
                       if str(conn_id).upper() in {platform.upper() for platform in PLATFORM_CONNECTION_IDS}})
    if reserved:
        problems.append(f"connection {reserved[0]} is one of the platform's own ({', '.join(PLATFORM_CONNECTION_IDS)}"
                        "): a notebook must not get the control tables' owner or the platform's keys")
    twice = sorted({conn_id for conn_id in conn_ids if conn_ids.count(conn_id) > 1})
    if twice:
        problems.append(f"connection {twice[0]} is named twice")
    return problems


class Status(StrEnum):
    """The status of a run-log row (cntl_cfg_log.status); a str, so it compares and prints as written."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"
    SKIPPED = "SKIPPED"


# An attempt in one of these did not do its work: its dependants are blocked and its stream run fails.
FAILING = frozenset({Status.FAILED, Status.BLOCKED})
# An attempt in one of these did its process's work for the date (SKIPPED: it had been done already).
DONE = frozenset({Status.SUCCESS, Status.SKIPPED})


STREAM_DAG_PREFIX = "stream__"


def stream_dag_id(strem_nm: str) -> str:
    """The id of a stream's DAG: here, beside the task ids, so the run log, the UI and local mode name DAGs
    the way the DAG builder does without importing Airflow."""
    return f"{STREAM_DAG_PREFIX}{strem_nm}"


def process_dag_id(prcs_nm: str) -> str:
    """The id of a process's own DAG (see stream_dag_id)."""
    return f"process__{prcs_nm}"


def task_group_id(prcs_grp_nm: str) -> str:
    """The TaskGroup id of a group in its stream DAG: task group ids may not contain dots, names may."""
    return prcs_grp_nm.replace(".", "_")


def stream_task_id(prcs_grp_nm: str, prcs_nm: str) -> str:
    """The id of a process's task in its stream DAG (Airflow prefixes it with the group's id)."""
    return f"{task_group_id(prcs_grp_nm)}.{prcs_nm}"


class Record(BaseModel):
    """A row of a control table; columns not modelled here are ignored.

    NaN and infinite numbers are written to JSON as strings, not null: a timeout_min of 'NaN' (which the
    database once accepted) must survive the snapshot cache so validation can name the row.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", ser_json_inf_nan="strings")


class Stream(Record):
    strem_id: int
    strem_nm: str
    strem_desc: str = ""
    owner_nm: str = "llf"
    actv_flg: bool = True
    fail_policy: Literal["CONTINUE", "STOP"] = "CONTINUE"


class ProcessGroup(Record):
    prcs_grp_id: int
    strem_id: int
    prcs_grp_nm: str
    prcs_grp_desc: str = ""
    priority: int = 1
    max_parallel: int = 1
    actv_flg: bool = True
    queue_nm: str = DEFAULT_QUEUE


class Process(Record):
    prcs_id: int
    prcs_grp_id: int
    prcs_nm: str
    prcs_desc: str = ""
    owner_nm: str = "llf"
    priority: int = 1
    params: Any = {}
    timeout_min: float = 60
    retries: int = 0
    actv_flg: bool = True
    queue_nm: str | None = None  # the row's override; the queue it runs on is Snapshot.queue_of(process)
    pool_nm: str | None = None  # None: Airflow's default_pool
    pool_slots: int = 1
    conn_ids: tuple[str, ...] = ()  # the Airflow connections its notebook gets (nb.connection); () before 0028


class Pool(Record):
    """A pool llf owns (cntl_cfg_pool): `llf pools sync` creates it in Airflow, processes take its slots."""

    pool_nm: str
    slots: int
    pool_desc: str = ""


class SystemFile(Record):
    sys_file_id: int
    prcs_id: int
    file_type: Literal["NOTEBOOK"] = "NOTEBOOK"
    file_path: str
    content_sha256: str | None = None  # the pin (llf.control.pins); None: not pinned, or before 0027


class Dependency(Record):
    prcs_id: int
    depn_prcs_id: int
    actv_flg: bool = True


class Schedule(Record):
    schedule_id: int
    strem_id: int
    cron_expr: str
    timezone: str = "UTC"
    actv_flg: bool = True


class LogEntry(Record):
    """One row of the run log (cntl_af.cntl_cfg_log): a process attempt, or a stream run's own row (prcs_nm None).

    The one type every reader of the log returns, whatever it selects: a column a statement leaves out keeps
    its default. `tokens` and `expected_prcs` are filled only by the readers that need them.
    """

    log_id: int
    strem_nm: str | None = None
    prcs_nm: str | None = None
    business_date: date
    run_id: str
    strem_run_id: str | None = None
    dag_id: str | None = None
    task_id: str | None = None
    try_number: int = 1
    status: Status
    message: str = ""
    start_ts: datetime
    end_ts: datetime | None = None
    output_path: str | None = None
    tokens: int = 0  # the attempt's LLM tokens (cntl_llm_usage), where the reader sums them
    expected_prcs: list[str] | None = None  # a stream run's processes; None before llf recorded them (0024)
    # The stream run that asked for this attempt as a dependency of one of its processes (0030); None: none.
    rqst_strem_nm: str | None = None
    rqst_strem_run_id: str | None = None

    @property
    def duration(self) -> timedelta | None:
        """How long the attempt took; None while it runs."""
        return self.end_ts - self.start_ts if self.end_ts else None


class _Column(Protocol):
    name: str


class Cursor(Protocol):
    """What entries() needs of a DB-API cursor (psycopg2's), so this module stays free of the driver."""

    @property
    def description(self) -> Sequence[_Column] | None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...


def rows_by_name(cursor: Cursor) -> list[dict[str, Any]]:
    """The cursor's remaining rows as {column name: value}, names from cursor.description."""
    names = [column.name for column in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def entries(cursor: Cursor) -> list[LogEntry]:
    """The cursor's remaining rows as LogEntry, mapped by column name: the one mapping every reader of the
    run log uses, so a column reads the same whichever statement selected it, and in any order."""
    return [LogEntry.model_validate(row) for row in rows_by_name(cursor)]


class Snapshot(Record):
    """Every registration, read in one statement so all tables are seen at the same instant."""

    taken_at: datetime
    streams: tuple[Stream, ...] = ()
    groups: tuple[ProcessGroup, ...] = ()
    processes: tuple[Process, ...] = ()
    system_files: tuple[SystemFile, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    pools: tuple[Pool, ...] = ()

    # Lookups built once per snapshot; cached_property keeps them out of the JSON form.
    @cached_property
    def stream_by_id(self) -> dict[int, Stream]:
        return {stream.strem_id: stream for stream in self.streams}

    @cached_property
    def group_by_id(self) -> dict[int, ProcessGroup]:
        return {group.prcs_grp_id: group for group in self.groups}

    @cached_property
    def process_by_id(self) -> dict[int, Process]:
        return {process.prcs_id: process for process in self.processes}

    @cached_property
    def system_file_by_process_id(self) -> dict[int, SystemFile]:
        return {system_file.prcs_id: system_file for system_file in self.system_files}

    @cached_property
    def pool_by_name(self) -> dict[str, Pool]:
        return {pool.pool_nm: pool for pool in self.pools}

    @cached_property
    def groups_by_stream_id(self) -> dict[int, list[ProcessGroup]]:
        """Every group (active or not) of each stream, in run order."""
        index: dict[int, list[ProcessGroup]] = {}
        for group in sorted(self.groups, key=lambda g: (g.priority, g.prcs_grp_nm)):
            index.setdefault(group.strem_id, []).append(group)
        return index

    @cached_property
    def processes_by_group_id(self) -> dict[int, list[Process]]:
        """Every process (active or not) of each group, in start order."""
        index: dict[int, list[Process]] = {}
        for process in sorted(self.processes, key=lambda p: (p.priority, p.prcs_nm)):
            index.setdefault(process.prcs_grp_id, []).append(process)
        return index

    @cached_property
    def dependency_rows_by_process_id(self) -> dict[int, list[Dependency]]:
        index: dict[int, list[Dependency]] = {}
        for row in self.dependencies:
            index.setdefault(row.prcs_id, []).append(row)
        return index

    @cached_property
    def dependant_ids_by_stream_name(self) -> dict[str, set[int]]:
        """Who waits for a stream: the prcs_id of each process with an active dependency row on one of its own."""
        index: dict[str, set[int]] = {}
        for row in self.dependencies:
            if row.actv_flg:
                index.setdefault(self.stream_of(self.process_by_id[row.depn_prcs_id]).strem_nm, set()).add(row.prcs_id)
        return index

    @cached_property
    def active_schedules_by_stream_id(self) -> dict[int, list[Schedule]]:
        """Every active schedule of each stream, in row order (one at most, unless validation reports a second)."""
        index: dict[int, list[Schedule]] = {}
        for schedule in self.schedules:
            if schedule.actv_flg:
                index.setdefault(schedule.strem_id, []).append(schedule)
        return index

    @cached_property
    def schedule_by_stream_id(self) -> dict[int, Schedule]:
        """The active schedule of each stream (the first, should validation have a second one to report)."""
        return {strem_id: schedules[0] for strem_id, schedules in self.active_schedules_by_stream_id.items()}

    @cached_property
    def active_stream_list(self) -> list[Stream]:
        return sorted((s for s in self.streams if s.actv_flg), key=lambda s: s.strem_nm)

    def stream_of(self, process: Process) -> Stream:
        return self.stream_by_id[self.group_by_id[process.prcs_grp_id].strem_id]

    def group_of(self, process: Process) -> ProcessGroup:
        return self.group_by_id[process.prcs_grp_id]

    def queue_of(self, process: Process) -> str:
        """The Celery queue the process's notebook runs on: its own override, else its group's."""
        return process.queue_nm or self.group_by_id[process.prcs_grp_id].queue_nm

    def is_active(self, process: Process) -> bool:
        """A process is active when it, its group and its stream all are."""
        group = self.group_by_id[process.prcs_grp_id]
        return process.actv_flg and group.actv_flg and self.stream_by_id[group.strem_id].actv_flg

    def active_streams(self) -> list[Stream]:
        """Active streams by name (a new list: callers may filter it)."""
        return list(self.active_stream_list)

    def active_groups(self, stream: Stream) -> list[ProcessGroup]:
        """The stream's active groups in run order (priority, then name for a stable tie-break)."""
        return [g for g in self.groups_by_stream_id.get(stream.strem_id, []) if g.actv_flg]

    def active_processes(self, group: ProcessGroup | None = None) -> list[Process]:
        """Active processes in start order; of one group when given, else of the whole snapshot."""
        if group is not None:
            return [p for p in self.processes_by_group_id.get(group.prcs_grp_id, []) if self.is_active(p)]
        return sorted((p for p in self.processes if self.is_active(p)), key=lambda p: (p.priority, p.prcs_nm))

    def dependencies_of(self, process: Process) -> list[Process]:
        """The processes an active dependency row says this one waits for, by name: the one order in which
        the UI, validation and the process DAG's doc list them."""
        rows = self.dependency_rows_by_process_id.get(process.prcs_id, [])
        return sorted((self.process_by_id[d.depn_prcs_id] for d in rows if d.actv_flg), key=lambda p: p.prcs_nm)

    def active_schedule(self, stream: Stream) -> Schedule | None:
        return self.schedule_by_stream_id.get(stream.strem_id)

    def active_schedules(self, stream: Stream) -> list[Schedule]:
        """All the stream's active schedules (validation reports a second one); a new list."""
        return list(self.active_schedules_by_stream_id.get(stream.strem_id, []))

    def timezone_of(self, stream: Stream) -> str:
        """The stream's schedule time zone (UTC when manual only): business dates are read in it."""
        schedule = self.active_schedule(stream)
        return schedule.timezone if schedule else "UTC"

    def notebook_of(self, process: Process) -> str:
        """The registered notebook path (validation guarantees a buildable process has one)."""
        return self.system_file_by_process_id[process.prcs_id].file_path
