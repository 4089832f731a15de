"""Typed records of the control tables and the snapshot that carries all of them at once.

The snapshot holds every row, active or not, so validation can say "depends on an inactive process";
the `active_*` views give what Airflow should show.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """A row of a control table; columns not modelled here are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


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


class SystemFile(Record):
    sys_file_id: int
    prcs_id: int
    file_type: Literal["NOTEBOOK"] = "NOTEBOOK"
    file_path: str


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
    log_id: int
    strem_nm: str | None = None
    prcs_nm: str | None = None
    business_date: str
    run_id: str
    strem_run_id: str | None = None
    dag_id: str | None = None
    task_id: str | None = None
    try_number: int = 1
    status: Literal["RUNNING", "SUCCESS", "FAILED", "BLOCKED", "SKIPPED"]
    message: str = ""
    start_ts: datetime
    end_ts: datetime | None = None
    output_path: str | None = None


class Snapshot(Record):
    """Every registration, read in one statement so all tables are seen at the same instant."""

    taken_at: datetime
    streams: tuple[Stream, ...] = ()
    groups: tuple[ProcessGroup, ...] = ()
    processes: tuple[Process, ...] = ()
    system_files: tuple[SystemFile, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    schedules: tuple[Schedule, ...] = ()

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

    def stream_of(self, process: Process) -> Stream:
        return self.stream_by_id[self.group_by_id[process.prcs_grp_id].strem_id]

    def is_active(self, process: Process) -> bool:
        """A process is active when it, its group and its stream all are."""
        group = self.group_by_id[process.prcs_grp_id]
        return process.actv_flg and group.actv_flg and self.stream_by_id[group.strem_id].actv_flg

    def active_streams(self) -> list[Stream]:
        return sorted((s for s in self.streams if s.actv_flg), key=lambda s: s.strem_nm)

    def active_groups(self, stream: Stream) -> list[ProcessGroup]:
        """The stream's active groups in run order (priority, then name for a stable tie-break)."""
        groups = (g for g in self.groups if g.strem_id == stream.strem_id and g.actv_flg)
        return sorted(groups, key=lambda g: (g.priority, g.prcs_grp_nm))

    def active_processes(self, group: ProcessGroup | None = None) -> list[Process]:
        """Active processes in start order; of one group when given, else of the whole snapshot."""
        processes = (
            p
            for p in self.processes
            if self.is_active(p) and (group is None or p.prcs_grp_id == group.prcs_grp_id)
        )
        return sorted(processes, key=lambda p: (p.priority, p.prcs_nm))

    def dependencies_of(self, process: Process) -> list[Process]:
        """The processes an active dependency row says this one waits for."""
        return [
            self.process_by_id[d.depn_prcs_id]
            for d in self.dependencies
            if d.prcs_id == process.prcs_id and d.actv_flg
        ]

    def active_schedule(self, stream: Stream) -> Schedule | None:
        return next((s for s in self.schedules if s.strem_id == stream.strem_id and s.actv_flg), None)
