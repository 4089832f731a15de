"""How long a healthy run of an llf DAG can take at most: its `dagrun_timeout`.

Why a run-level bound: a task that triggers a process DAG run and waits for it (a stream's process task
taking the fallback, a process's dependency task) waits in Airflow's task runner after `execute` returns,
polling without end or deferred to a trigger with no timeout, so its `execution_timeout` does not cover
the wait. A process DAG paused after its run was triggered leaves that run queued (the scheduler examines
no run of a paused DAG), the waiting task with it, and with `max_active_runs=1` every later run of the
stream behind it. `dagrun_timeout` is what Airflow itself enforces there: the scheduler fails the run
past it, stops its unfinished tasks and calls the DAG's failure callback (for a stream, the one that
closes its log row). It is checked only for runs of unpaused DAGs, so it bounds the waiting run (the
stream's, or the dependant's process run), never the paused one, and that is the run that must end.

The bound must never fail a run that is merely slow, so it adds up the worst case of every try: each
try of a task is bounded by its execution_timeout (llf.control.model.task_timeout) and followed by
Airflow's retry_delay (the last one counted as the task's start); a try that waits for a process run
waits at most that run's own bound. It is loose on purpose: it exists to end runs that would never end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from airflow.sdk.configuration import conf

from llf.control.model import Process, Snapshot, Stream, task_timeout
from llf.dagbuild.common import lane_count

# A run's own start (queued to running, its first task scheduled), counted once per run.
RUN_START_MARGIN = timedelta(minutes=5)


def tries_bound(retries: int, one_try: timedelta) -> timedelta:
    """A task of `retries` retries whose tries each take at most `one_try`: every try plus Airflow's
    retry_delay after it ([core] default_task_retry_delay: llf sets none, no exponential backoff)."""
    retry_delay = timedelta(seconds=conf.getint("core", "default_task_retry_delay", fallback=300))
    return (retries + 1) * (one_try + retry_delay)


class RunBounds:
    """The dagrun_timeout of each llf DAG of one snapshot; each process run's bound is computed once."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._process_runs: dict[int, timedelta] = {}
        # The dependency tasks take Airflow's default retries (llf sets none).
        self._dependency_retries = conf.getint("core", "default_task_retries", fallback=0)

    def process_run(self, process: Process) -> timedelta:
        """A process DAG run: its dependency tasks (in parallel, each waiting for the dependency's own
        process run), then its notebook task. Dependencies first, depth first on an explicit stack: a chain
        of a thousand dependencies must not exceed Python's recursion limit."""
        path: list[tuple[Process, Iterator[Process]]] = [(process, iter(self._snapshot.dependencies_of(process)))]
        on_path = {process.prcs_id}
        while path and process.prcs_id not in self._process_runs:
            current, dependencies = path[-1]
            dependency = next((d for d in dependencies if d.prcs_id not in self._process_runs), None)
            if dependency is None:
                path.pop()
                on_path.discard(current.prcs_id)
                self._process_runs[current.prcs_id] = self._own_run(current)
            elif dependency.prcs_id in on_path:  # validation refuses cycles; never loop on one regardless
                raise ValueError(f"process {current.prcs_nm} depends on itself through {dependency.prcs_nm}")
            else:
                path.append((dependency, iter(self._snapshot.dependencies_of(dependency))))
                on_path.add(dependency.prcs_id)
        return self._process_runs[process.prcs_id]

    def _own_run(self, process: Process) -> timedelta:
        waits = (tries_bound(self._dependency_retries, self._process_runs[d.prcs_id])
                 for d in self._snapshot.dependencies_of(process))
        notebook = tries_bound(process.retries, task_timeout(process.timeout_min))
        return max(waits, default=timedelta(0)) + notebook + RUN_START_MARGIN

    def stream_task(self, process: Process) -> timedelta:
        """A stream's process task: a try runs the notebook in place (task_timeout), or, when a dependency
        still needs a run, triggers the process run and waits for it (its bound, which is longer)."""
        one_try = (self.process_run(process) if self._snapshot.dependencies_of(process)
                   else task_timeout(process.timeout_min))
        return tries_bound(process.retries, one_try)

    def stream_run(self, stream: Stream) -> timedelta:
        """A stream run: group after group, each as long as its longest lane (the lanes of
        llf.dagbuild.stream_dag: process i of a group on lane i mod its width)."""
        total = RUN_START_MARGIN
        for group in self._snapshot.active_groups(stream):
            processes = self._snapshot.active_processes(group)
            width = lane_count(group, processes)
            lanes = [timedelta(0)] * width
            for position, process in enumerate(processes):
                lanes[position % width] += self.stream_task(process)
            total += max(lanes)
        return total


_last: tuple[Snapshot, RunBounds] | None = None


def run_bounds(snapshot: Snapshot) -> RunBounds:
    """The RunBounds of `snapshot`, shared by every DAG one parse builds from it (a process's bound is
    needed by its own DAG, its dependants' and their streams'); a new snapshot gets new ones."""
    global _last
    if _last is None or _last[0] is not snapshot:
        _last = (snapshot, RunBounds(snapshot))
    return _last[1]
