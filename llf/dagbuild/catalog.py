"""A snapshot together with its validation verdict: which streams can be built, which cannot and why.

Validation reads every registered notebook, so it runs once per snapshot refresh and its verdict is
cached with the snapshot; a parse then costs no file system walk. It never raises (each check is guarded
per stream); should it fail as a whole anyway, every stream is marked unchecked rather than built blind.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from llf.control.model import Process, ProcessGroup, Schedule, Snapshot, Stream

log = logging.getLogger(__name__)


class Catalog(BaseModel):
    """What the DAG builder works from. `problems` maps a stream name to the lines naming rows to fix."""

    model_config = ConfigDict(frozen=True)

    snapshot: Snapshot
    problems: dict[str, tuple[str, ...]] = {}

    @classmethod
    def of(cls, snapshot: Snapshot, notebooks_dir: Path) -> Catalog:
        problems: dict[str, list[str]] = defaultdict(list)
        try:
            # Imported here: validation pulls in croniter and nbformat, needed only when the cache is refreshed.
            from llf.control.validation import validate

            for problem in validate(snapshot, notebooks_dir):
                for strem_nm in sorted(problem.streams):
                    problems[strem_nm].append(str(problem))
        except Exception as error:  # validate guards each check; this is the last line of defence
            log.exception("llf validation failed; no stream is built until it succeeds")
            detail = f"{type(error).__name__}: {' '.join(str(error).split())}"
            for stream in snapshot.active_streams():
                problems[stream.strem_nm].append(
                    f"cntl_cfg_strem (strem_nm={stream.strem_nm}): llf could not validate the registrations "
                    f"({detail}). Fix: run `llf validate`; report the error if it persists."
                )
        return cls(snapshot=snapshot, problems={name: tuple(lines) for name, lines in problems.items()})

    def with_problems(self, more: Mapping[str, tuple[str, ...]]) -> Catalog:
        """This catalog with more problems (a stream whose DAGs failed to build), spread to its dependants."""
        from llf.control.validation import invalid_dependants

        problems: dict[str, list[str]] = defaultdict(list)
        for source in (self.problems, more):
            for strem_nm, lines in source.items():
                problems[strem_nm].extend(lines)
        for problem in invalid_dependants(self.snapshot, problems):
            for strem_nm in sorted(problem.streams):
                problems[strem_nm].append(str(problem))
        return Catalog(snapshot=self.snapshot, problems={name: tuple(lines) for name, lines in problems.items()})

    def valid_streams(self) -> list[Stream]:
        return [s for s in self.snapshot.active_streams() if s.strem_nm not in self.problems]

    def invalid_streams(self) -> list[Stream]:
        return [s for s in self.snapshot.active_streams() if s.strem_nm in self.problems]

    # One-pass indexes: the snapshot's own lookups scan every row per call, too slow for 1000s of DAGs.
    @cached_property
    def _groups_by_stream(self) -> dict[int, list[ProcessGroup]]:
        index: dict[int, list[ProcessGroup]] = defaultdict(list)
        for group in sorted(self.snapshot.groups, key=lambda g: (g.priority, g.prcs_grp_nm)):
            if group.actv_flg:
                index[group.strem_id].append(group)
        return index

    @cached_property
    def _processes_by_group(self) -> dict[int, list[Process]]:
        index: dict[int, list[Process]] = defaultdict(list)
        for process in sorted(self.snapshot.processes, key=lambda p: (p.priority, p.prcs_nm)):
            if process.actv_flg:
                index[process.prcs_grp_id].append(process)
        return index

    @cached_property
    def _dependencies_by_process(self) -> dict[int, list[Process]]:
        index: dict[int, list[Process]] = defaultdict(list)
        for row in self.snapshot.dependencies:
            if row.actv_flg:
                index[row.prcs_id].append(self.snapshot.process_by_id[row.depn_prcs_id])
        return index

    @cached_property
    def _schedule_by_stream(self) -> dict[int, Schedule]:
        return {s.strem_id: s for s in self.snapshot.schedules if s.actv_flg}

    def groups_of(self, stream: Stream) -> list[ProcessGroup]:
        """Active groups in run order (ascending priority, then name)."""
        return self._groups_by_stream.get(stream.strem_id, [])

    def processes_of(self, group: ProcessGroup) -> list[Process]:
        """Active processes in start order (ascending priority, then name)."""
        return self._processes_by_group.get(group.prcs_grp_id, [])

    def dependencies_of(self, process: Process) -> list[Process]:
        """What the process waits for, sorted by name (validation guarantees they are buildable)."""
        return sorted(self._dependencies_by_process.get(process.prcs_id, []), key=lambda p: p.prcs_nm)

    def schedule_of(self, stream: Stream) -> Schedule | None:
        return self._schedule_by_stream.get(stream.strem_id)

    def timezone_of(self, stream: Stream) -> str:
        """The stream's schedule time zone (UTC when manual only): business dates are read in it."""
        schedule = self.schedule_of(stream)
        return schedule.timezone if schedule else "UTC"

    @cached_property
    def buildable_processes(self) -> dict[str, Process]:
        """Active processes of valid streams, by name: the processes that get a process DAG."""
        return {
            process.prcs_nm: process
            for stream in self.valid_streams()
            for group in self.groups_of(stream)
            for process in self.processes_of(group)
        }

    @cached_property
    def most_waiting_triggers(self) -> int:
        """Stream process tasks that can wait at once: every valid stream in its widest group."""
        return sum(max((g.max_parallel for g in self.groups_of(s)), default=0) for s in self.valid_streams())

    def notebook_of(self, process: Process) -> str:
        """The registered notebook path (validation guarantees a buildable process has one)."""
        return self.snapshot.system_file_by_process_id[process.prcs_id].file_path

    def stream_and_group_of(self, process: Process) -> tuple[Stream, ProcessGroup]:
        group = self.snapshot.group_by_id[process.prcs_grp_id]
        return self.snapshot.stream_by_id[group.strem_id], group
