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

from llf.control.model import Process, Snapshot, Stream
from llf.text import one_line

log = logging.getLogger(__name__)


class Catalog(BaseModel):
    """What the DAG builder works from. `problems` maps a stream name to the lines naming rows to fix.

    Lookups (groups, processes, dependencies, schedule) are the snapshot's own indexed queries, the ones the
    UI and validation use too, so every view lists rows in the same order.
    """

    model_config = ConfigDict(frozen=True)

    snapshot: Snapshot
    problems: dict[str, tuple[str, ...]] = {}
    # How long reading and validating this snapshot took: a parse hands a refresh expected to outlast its
    # budget straight to a background process (llf.dagbuild.snapshot).
    refresh_seconds: float = 0.0

    # The verdict of the rows alone (no notebook read): what a task's parse builds from (for_task). None in a
    # cache written before it was recorded: a task then goes by `problems`, as it did.
    task_problems: dict[str, tuple[str, ...]] | None = None
    # most_waiting_triggers as the database counted it, for a catalog of part of the registrations (of_task);
    # None: counted from this catalog's own streams.
    waiting_triggers: int | None = None

    @classmethod
    def of(cls, snapshot: Snapshot, notebooks_dir: Path) -> Catalog:
        return cls(snapshot=snapshot, problems=_verdict(snapshot, notebooks_dir),
                   task_problems=_verdict(snapshot, None))

    @classmethod
    def of_task(cls, snapshot: Snapshot, waiting_triggers: int) -> Catalog:
        """The catalog of the rows one task's DAG needs (llf.control.repository.read_task_snapshot), judged on
        the registrations alone as for_task judges them; `waiting_triggers` stands for the streams not read."""
        verdict = _verdict(snapshot, None)
        return cls(snapshot=snapshot, problems=verdict, task_problems=verdict, waiting_triggers=waiting_triggers)

    def for_task(self) -> Catalog:
        """This catalog as a task's parse builds from it: judged on the registrations alone.

        Whether a notebook exists and reads is a fact of the host that parses. The dag-processor's verdict
        decides which DAGs exist and what the scheduler sends; a worker whose notebooks folder lags (a missing
        or older file) must still build the DAG of the task it was sent, or the task dies with "Task not found
        in Dag" and no llf message. The runner re-checks the notebook right before it runs and fails the
        attempt with a sentence naming the path and the host (llf.runner.notebook_check).
        """
        if self.task_problems is None:
            return self
        return Catalog(snapshot=self.snapshot, problems=self.task_problems, refresh_seconds=self.refresh_seconds,
                       task_problems=self.task_problems, waiting_triggers=self.waiting_triggers)

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
        return Catalog(snapshot=self.snapshot, problems={name: tuple(lines) for name, lines in problems.items()},
                       waiting_triggers=self.waiting_triggers)

    def valid_streams(self) -> list[Stream]:
        return [s for s in self.snapshot.active_streams() if s.strem_nm not in self.problems]

    def invalid_streams(self) -> list[Stream]:
        return [s for s in self.snapshot.active_streams() if s.strem_nm in self.problems]

    @cached_property
    def buildable_processes(self) -> dict[str, Process]:
        """Active processes of valid streams, by name: the processes that get a process DAG."""
        return {
            process.prcs_nm: process
            for stream in self.valid_streams()
            for group in self.snapshot.active_groups(stream)
            for process in self.snapshot.active_processes(group)
        }

    @cached_property
    def most_waiting_triggers(self) -> int:
        """Stream process tasks that can wait at once: every valid stream in its widest group (every active
        stream, for a task's catalog of_task: the invalid ones are not known there)."""
        if self.waiting_triggers is not None:
            return self.waiting_triggers
        groups = self.snapshot.active_groups
        return sum(max((g.max_parallel for g in groups(s)), default=0) for s in self.valid_streams())


def _verdict(snapshot: Snapshot, notebooks_dir: Path | None) -> dict[str, tuple[str, ...]]:
    """Problems by stream (validate's, notebooks read unless `notebooks_dir` is None); never raises."""
    problems: dict[str, list[str]] = defaultdict(list)
    try:
        # Imported here: validation pulls in croniter and nbformat, needed only when the cache is refreshed.
        from llf.control.validation import validate

        for problem in validate(snapshot, notebooks_dir):
            for strem_nm in sorted(problem.streams):
                problems[strem_nm].append(str(problem))
    except Exception as error:  # validate guards each check; this is the last line of defence
        log.exception("llf validation failed; no stream is built until it succeeds")
        detail = f"{type(error).__name__}: {one_line(error)}"
        for stream in snapshot.active_streams():
            problems[stream.strem_nm].append(
                f"cntl_cfg_strem (strem_nm={stream.strem_nm}): llf could not validate the registrations "
                f"({detail}). Fix: run `llf validate`; report the error if it persists."
            )
    return {name: tuple(lines) for name, lines in problems.items()}
