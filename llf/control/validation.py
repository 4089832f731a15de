"""`llf validate`: problems in the registrations that the database alone cannot refuse.

Each problem names the table, the row and the fix, and the streams it affects, so the DAG builder can
isolate a bad stream while every other stream still loads. Validation itself never raises: every check
runs per stream inside a guard, and a check that fails on some row becomes a problem of that stream
only ("llf could not check ..."), so a hostile row, or a bug here, costs one stream, not every DAG.

Beyond wrong references it finds what Airflow would refuse later, out of the builder's reach: ids over
250 characters, owners over the 2000 characters Airflow stores, a schedule that never fires or whose
description does not fit Airflow's column; and rows registered before llf/control/sql/0023 that the
database now refuses (bounds in llf.control.model).
"""

from __future__ import annotations

import difflib
import heapq
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from llf.control.cron import schedule_problems
from llf.control.memo import memoised, one_pass
from llf.control.model import (
    AIRFLOW_DEFAULT_POOL,
    AIRFLOW_ID_MAX_LENGTH,
    MAX_PARALLEL_MAX,
    OWNER_MAX_LENGTH,
    PARAMS_MAX_DEPTH,
    RESERVED_GROUP_IDS,
    RETRIES_MAX,
    TIMEOUT_MIN_MAX,
    TOO_DEEP_PARAMS,
    Process,
    ProcessGroup,
    Snapshot,
    Stream,
    conn_ids_problems,
    stream_dag_id,
    stream_task_id,
    task_group_id,
)
from llf.control.notebooks import read_notebook
from llf.text import DETAIL_MAX_LENGTH, one_line


@dataclass(frozen=True)
class Problem:
    table: str
    row: str
    message: str
    fix: str
    streams: frozenset[str]

    def __str__(self) -> str:
        return one_line(f"{self.table} ({self.row}): {self.message}. Fix: {self.fix}.", limit=4000)


StreamCheck = Callable[[Snapshot, Stream, Path], Iterable[Problem]]


def validate(snapshot: Snapshot, notebooks_dir: Path | None) -> list[Problem]:
    """Every problem of the active registrations, in a stable order; never raises.

    The last ones are the dependants of invalid streams, which are invalid too (see invalid_dependants).
    `notebooks_dir` None: the notebooks are not read, only the rows are checked (REGISTRATION_CHECKS): what
    holds on any host, for a task's parse on a worker whose notebooks may lag (the runner checks its notebook).
    """
    checks = STREAM_CHECKS if notebooks_dir is not None else REGISTRATION_CHECKS
    with one_pass():  # a notebook or a schedule many rows share is checked once (llf.control.memo)
        problems = _guarded_cycles(snapshot)
        for stream in snapshot.active_streams():
            for check in checks:
                try:
                    problems.extend(check(snapshot, stream, notebooks_dir or Path()))
                except Exception as error:  # noqa: BLE001 - a check must not fail every stream: see the module docstring
                    problems.append(_check_failed(check.__name__, stream, error))
    return problems + invalid_dependants(snapshot, {name for problem in problems for name in problem.streams})


def invalid_dependants(snapshot: Snapshot, invalid_streams: Iterable[str]) -> list[Problem]:
    """A process whose dependency lives in an invalid stream could never run: its stream is invalid too.

    Repeated until nothing changes, because the newly invalid stream may itself be depended on. Used by
    validate and by the DAG builder, for a stream whose DAGs failed to build.
    """
    invalid, problems = set(invalid_streams), list[Problem]()
    if not invalid:
        return problems
    # Each pass visits, in start order, only the dependants of streams that just became invalid: the same problems
    # as passes over every process, at a cost that follows the dependency rows instead of passes x processes.
    processes = snapshot.active_processes()
    position = {process.prcs_id: index for index, process in enumerate(processes)}

    def waiting(strem_nm: str) -> set[int]:
        """Positions of the active processes depending on a process of the stream."""
        return {position[i] for i in snapshot.dependant_ids_by_stream_name.get(strem_nm, ()) if i in position}

    this_pass = sorted({index for name in invalid for index in waiting(name)})
    while this_pass:
        next_pass: set[int] = set()
        while this_pass:
            index = heapq.heappop(this_pass)
            process = processes[index]
            stream = snapshot.stream_of(process).strem_nm
            dependency = None if stream in invalid else next(
                (d for d in snapshot.dependencies_of(process) if snapshot.stream_of(d).strem_nm in invalid), None)
            if dependency is None:
                continue
            dependency_stream = snapshot.stream_of(dependency).strem_nm
            problems.append(Problem(
                "cntl_cfg_prcs_depn", f"prcs_nm={process.prcs_nm}, depn_prcs_nm={dependency.prcs_nm}",
                f"{process.prcs_nm} depends on {dependency.prcs_nm} of stream {dependency_stream}, "
                "whose registrations are invalid",
                f"correct the rows listed on {stream_dag_id(dependency_stream)}",
                frozenset({stream})))
            invalid.add(stream)
            for later in waiting(stream):  # a full pass would still reach those after this one
                if later > index:
                    heapq.heappush(this_pass, later)
                else:
                    next_pass.add(later)
        this_pass = sorted(next_pass)
    return problems


def _check_failed(check: str, stream: Stream, error: Exception) -> Problem:
    return Problem(
        "cntl_cfg_strem",
        _stream_row(stream),
        f"llf could not check this stream's registrations ({check.strip('_')}: "
        f"{type(error).__name__}: {one_line(str(error), DETAIL_MAX_LENGTH)})",
        "correct the stream's odd rows, or report this llf bug with the message",
        frozenset({stream.strem_nm}),
    )


def _stream_row(stream: Stream) -> str:
    return f"strem_id={stream.strem_id}, strem_nm={stream.strem_nm}"


def _group_row(group: ProcessGroup, stream: Stream) -> str:
    return f"prcs_grp_id={group.prcs_grp_id}, prcs_grp_nm={group.prcs_grp_nm}, strem_nm={stream.strem_nm}"


def _row(process: Process) -> str:
    return f"prcs_id={process.prcs_id}, prcs_nm={process.prcs_nm}"


def _streams_of(snapshot: Snapshot, *processes: Process) -> frozenset[str]:
    return frozenset(snapshot.stream_of(p).strem_nm for p in processes)


def _active_processes_of(snapshot: Snapshot, stream: Stream) -> list[Process]:
    return [p for g in snapshot.active_groups(stream) for p in snapshot.active_processes(g)]


def _guarded_cycles(snapshot: Snapshot) -> list[Problem]:
    """The cycle check spans streams; if it fails, every stream with a dependency row is unchecked."""
    try:
        return _cycles(snapshot)
    except Exception as error:  # noqa: BLE001 - a failing check must not fail every stream (see validate)
        involved = {snapshot.stream_of(snapshot.process_by_id[row.prcs_id]).strem_nm
                    for row in snapshot.dependencies if row.actv_flg}
        return [_check_failed("cycles", s, error) for s in snapshot.active_streams() if s.strem_nm in involved]


def _cycles(snapshot: Snapshot) -> list[Problem]:
    """Each dependency cycle once, naming every process in it (graphlib finds one cycle at a time)."""
    graph = {
        p.prcs_id: {d.prcs_id for d in snapshot.dependencies_of(p) if snapshot.is_active(d)}
        for p in snapshot.active_processes()
    }
    problems: list[Problem] = []
    while True:
        try:
            TopologicalSorter(graph).prepare()
            return problems
        except CycleError as error:
            cycle_ids = error.args[1]
            members = [snapshot.process_by_id[prcs_id] for prcs_id in cycle_ids[:-1]]
            path = " -> ".join(snapshot.process_by_id[prcs_id].prcs_nm for prcs_id in cycle_ids)
            problems.append(
                Problem(
                    table="cntl_cfg_prcs_depn",
                    row=", ".join(f"prcs_nm={p.prcs_nm}" for p in members),
                    message=f"dependency cycle {path}",
                    fix="deactivate or delete one dependency row of the cycle (actv_flg = false)",
                    streams=_streams_of(snapshot, *members),
                )
            )
            # graphlib lists each node as a predecessor of the next: drop that edge, look for the next cycle
            graph[cycle_ids[1]].discard(cycle_ids[0])


def _inactive_dependencies(snapshot: Snapshot, stream: Stream, _: Path) -> list[Problem]:
    problems = []
    for process in _active_processes_of(snapshot, stream):
        for dependency in snapshot.dependencies_of(process):
            if not snapshot.is_active(dependency):
                problems.append(
                    Problem(
                        table="cntl_cfg_prcs_depn",
                        row=f"prcs_nm={process.prcs_nm}, depn_prcs_nm={dependency.prcs_nm}",
                        message=f"{process.prcs_nm} depends on inactive process {dependency.prcs_nm} "
                        "(it, its group or its stream has actv_flg = false), so it could never run",
                        fix=f"activate {dependency.prcs_nm} or set this dependency's actv_flg = false",
                        streams=frozenset({stream.strem_nm}),
                    )
                )
    return problems


def _system_files(snapshot: Snapshot, stream: Stream, notebooks_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    for process in _active_processes_of(snapshot, stream):
        system_file = snapshot.system_file_by_process_id.get(process.prcs_id)
        if system_file is None:
            problems.append(_no_system_file(process, stream))
            continue
        reading = memoised(read_notebook, system_file.file_path, notebooks_dir)
        if not reading.message:
            problems.extend(
                Problem("cntl_cfg_prcs", _row(process), typo, rename, frozenset({stream.strem_nm}))
                for typo, rename in _unknown_params(process, system_file.file_path, reading.parameters))
            continue
        problems.append(
            Problem(
                table="cntl_cfg_sys_file",
                row=f"{_row(process)}, file_path={one_line(system_file.file_path, DETAIL_MAX_LENGTH)}",
                message=reading.message,
                fix=reading.fix,
                streams=frozenset({stream.strem_nm}),
            )
        )
    return problems


def _system_file_rows(snapshot: Snapshot, stream: Stream, _: Path) -> list[Problem]:
    """_system_files without reading the notebooks: only an active process with no system file row."""
    return [_no_system_file(process, stream) for process in _active_processes_of(snapshot, stream)
            if process.prcs_id not in snapshot.system_file_by_process_id]


def _no_system_file(process: Process, stream: Stream) -> Problem:
    return Problem(
        table="cntl_cfg_sys_file",
        row=_row(process),
        message="no system file registered",
        fix=(f"INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) VALUES ({process.prcs_id}, "
             "'<notebook path relative to the notebooks folder>')"),
        streams=frozenset({stream.strem_nm}),
    )


def _unknown_params(process: Process, file_path: str, declared: tuple[str, ...]) -> Iterable[tuple[str, str]]:
    """Registered params the notebook's parameters cell does not declare: almost always a typo.

    papermill injects them anyway, as new variables nobody reads, and the notebook runs with its default
    for the name it meant: the run "succeeds" with the wrong value. So each one is a problem, with the
    closest declared name as the likely fix.
    """
    if not isinstance(process.params, dict):
        return  # reported by _processes
    unknown = [str(key) for key in process.params if key not in declared]
    if not unknown:
        return
    hints = []
    for key in unknown[:_UNKNOWN_KEYS_SHOWN]:
        close = difflib.get_close_matches(key, declared, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    more = f" and {len(unknown) - _UNKNOWN_KEYS_SHOWN} more" if len(unknown) > _UNKNOWN_KEYS_SHOWN else ""
    shown = ", ".join(declared[:_DECLARED_SHOWN]) + (", ..." if len(declared) > _DECLARED_SHOWN else "")
    yield (f"params key(s) {', '.join(hints)}{more} not declared in the parameters cell of {one_line(file_path, 200)} "
           f"(it declares: {shown or 'nothing'}), so the notebook would run with its own default",
           "rename the key in cntl_cfg_prcs.params to a declared parameter, or declare it in the notebook's "
           "cell tagged 'parameters'")


_UNKNOWN_KEYS_SHOWN = 10
_DECLARED_SHOWN = 30


def _processes(snapshot: Snapshot, stream: Stream, _: Path) -> list[Problem]:
    """Row values the database once accepted (before llf/control/sql/0023) that no DAG can be built from."""
    problems: list[Problem] = []
    for group in snapshot.active_groups(stream):
        for process in snapshot.active_processes(group):
            problems.extend(
                Problem("cntl_cfg_prcs", _row(process), message, fix, frozenset({stream.strem_nm}))
                for message, fix in _process_value_problems(process, group)
            )
    return problems


def _process_value_problems(process: Process, group: ProcessGroup) -> Iterable[tuple[str, str]]:
    if process.params == TOO_DEEP_PARAMS or params_depth(process.params) > PARAMS_MAX_DEPTH:
        yield (f"params nests deeper than {PARAMS_MAX_DEPTH} levels",
               "pass flat values as notebook parameters (a file in the lake for anything bigger)")
    elif not isinstance(process.params, dict):
        yield (f"params is {one_line(json.dumps(process.params), 120)}, not a JSON object",
               """set params to a JSON object, e.g. '{"top_k": 5}'::jsonb""")
    if not (math.isfinite(process.timeout_min) and 0 < process.timeout_min <= TIMEOUT_MIN_MAX):
        yield (f"timeout_min is {process.timeout_min:g}, not a number of minutes in (0, {TIMEOUT_MIN_MAX}] "
               "(a week at most)", "set timeout_min to the minutes a run may take, e.g. 60")
    if not 0 <= process.retries <= RETRIES_MAX:
        yield (f"retries is {process.retries}, not between 0 and {RETRIES_MAX}", "set retries to e.g. 2")
    if len(process.owner_nm) > OWNER_MAX_LENGTH:
        yield (f"owner_nm has {len(process.owner_nm)} characters; Airflow stores at most {OWNER_MAX_LENGTH}",
               "use a shorter owner name")
    task_id = stream_task_id(group.prcs_grp_nm, process.prcs_nm)
    if len(task_id) > AIRFLOW_ID_MAX_LENGTH:
        yield (f"its stream task id <group>.<prcs_nm> ({group.prcs_grp_nm}.{process.prcs_nm}) has "
               f"{len(task_id)} characters; Airflow allows {AIRFLOW_ID_MAX_LENGTH}",
               "shorten the process name or its group's name (prcs_grp_nm)")


def _pools(snapshot: Snapshot, stream: Stream, _: Path) -> list[Problem]:
    """A process naming a pool nobody registered (no foreign key on purpose, llf/control/sql/0026): Airflow
    would queue its task for a pool `llf pools sync` never created, and it would never start. So would one
    asking for more slots than its pool has. Each is a problem of the process's own stream."""
    registered = sorted(snapshot.pool_by_name)
    problems = []
    for process in _active_processes_of(snapshot, stream):
        if process.pool_nm is None or process.pool_nm == AIRFLOW_DEFAULT_POOL:
            continue
        pool = snapshot.pool_by_name.get(process.pool_nm)
        if pool is None:
            # the closest however far: a short list of pools, and naming one beats naming none
            close = difflib.get_close_matches(process.pool_nm, registered, n=1, cutoff=0)
            message = (f"pool_nm {process.pool_nm!r} is not a pool registered in cntl_cfg_pool ("
                       + (f"the closest is {close[0]!r}; registered: {_listed(registered)})" if close
                          else "none is registered)"))
            fix = (f"set pool_nm to a registered pool such as {close[0]!r}" if close else "correct pool_nm") + \
                f", or register it: INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots) VALUES ('{process.pool_nm}', N)"
        elif process.pool_slots > pool.slots:
            message = (f"pool_slots is {process.pool_slots}, more than the {pool.slots} slot(s) of pool "
                       f"{pool.pool_nm}, so its task could never start")
            fix = f"set pool_slots to at most {pool.slots}, or raise cntl_cfg_pool.slots of {pool.pool_nm}"
        else:
            continue
        problems.append(Problem("cntl_cfg_prcs", _row(process), message, fix, frozenset({stream.strem_nm})))
    return problems


def _connections(snapshot: Snapshot, stream: Stream, _: Path) -> list[Problem]:
    """The shape of each process's connection ids (llf/control/sql/0028 refuses the same; named here for a
    database whose constraint is missing). Whether Airflow has them is not asked: a connection may live in a
    secrets backend only the workers read, so the run checks it, and fails before its kernel starts without it."""
    return [Problem("cntl_cfg_prcs", _row(process), f"conn_ids: {message}",
                    "correct cntl_cfg_prcs.conn_ids (or `connections:` of the process in its stream file)",
                    frozenset({stream.strem_nm}))
            for process in _active_processes_of(snapshot, stream) for message in conn_ids_problems(process.conn_ids)]


def _listed(names: list[str]) -> str:
    return ", ".join(names[:_DECLARED_SHOWN]) + (", ..." if len(names) > _DECLARED_SHOWN else "")


def params_depth(value: Any) -> int:
    """The level of the deepest value inside (the top one is level 0), as the database's jsonpath `.**{n}`
    counts it (llf/control/sql/0023); without recursion, since the value may be hostile."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        if deepest > PARAMS_MAX_DEPTH:
            return deepest
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending.extend((child, level + 1) for child in children)
    return deepest


def _groups(snapshot: Snapshot, stream: Stream, _: Path) -> list[Problem]:
    """Empty groups, and what the stream DAG cannot build from a group: id collisions, huge widths."""
    problems = []
    seen: dict[str, ProcessGroup] = {}
    for group in snapshot.active_groups(stream):
        row = _group_row(group, stream)
        group_id = task_group_id(group.prcs_grp_nm)
        if not snapshot.active_processes(group):
            problems.append(Problem("cntl_cfg_prcs_grp", row, "the group has no active process",
                                    "register a process in it or set the group's actv_flg = false",
                                    frozenset({stream.strem_nm})))
        if not 1 <= group.max_parallel <= MAX_PARALLEL_MAX:
            problems.append(Problem("cntl_cfg_prcs_grp", row,
                                    f"max_parallel is {group.max_parallel}, not between 1 and {MAX_PARALLEL_MAX}",
                                    f"set max_parallel to at most {MAX_PARALLEL_MAX}", frozenset({stream.strem_nm})))
        if group_id in RESERVED_GROUP_IDS:
            problems.append(Problem("cntl_cfg_prcs_grp", row,
                                    f"the group's Airflow id {group_id} is the name of a task every stream DAG has",
                                    "rename the group", frozenset({stream.strem_nm})))
        if group_id in seen:
            other = seen[group_id]
            problems.append(Problem(
                "cntl_cfg_prcs_grp", f"prcs_grp_id={other.prcs_grp_id}, prcs_grp_nm={other.prcs_grp_nm} and {row}",
                f"both groups become the Airflow task group {group_id} (a . in a group name becomes _)",
                "rename one of the two groups", frozenset({stream.strem_nm})))
        seen.setdefault(group_id, group)
    return problems


def _stream(snapshot: Snapshot, stream: Stream, _: Path) -> list[Problem]:
    problems = []
    if not snapshot.active_groups(stream):
        problems.append(Problem("cntl_cfg_strem", _stream_row(stream), "the stream has no active process group",
                                "register a process group for it or set the stream's actv_flg = false",
                                frozenset({stream.strem_nm})))
    if len(stream.owner_nm) > OWNER_MAX_LENGTH:
        problems.append(Problem("cntl_cfg_strem", _stream_row(stream),
                                f"owner_nm has {len(stream.owner_nm)} characters; Airflow stores at most "
                                f"{OWNER_MAX_LENGTH}", "use a shorter owner name", frozenset({stream.strem_nm})))
    return problems


def _schedules(snapshot: Snapshot, stream: Stream, _: Path) -> list[Problem]:
    problems = []
    active = snapshot.active_schedules(stream)
    if len(active) > 1:  # the database refuses this (cntl_cfg_schedule_one_active_idx) unless the index is gone
        ids = ", ".join(f"schedule_id={s.schedule_id}" for s in active)
        problems.append(Problem(
            "cntl_cfg_schedule", f"{ids}, strem_nm={stream.strem_nm}",
            f"the stream has {len(active)} active schedules; one at most", "set actv_flg = false on all but one",
            frozenset({stream.strem_nm})))
    for schedule in active:
        row = f"schedule_id={schedule.schedule_id}, strem_nm={stream.strem_nm}"
        for message, fix in memoised(schedule_problems, schedule.cron_expr, schedule.timezone):
            problems.append(Problem("cntl_cfg_schedule", row, message, fix, frozenset({stream.strem_nm})))
    return problems


# Run per stream, in this order (after the cycle check, which spans streams).
STREAM_CHECKS: tuple[StreamCheck, ...] = (
    _inactive_dependencies,
    _system_files,
    _processes,
    _pools,
    _connections,
    _schedules,
    _stream,
    _groups,
)
# The same without reading a notebook: the verdict of the rows alone, the same on every host.
REGISTRATION_CHECKS: tuple[StreamCheck, ...] = tuple(
    _system_file_rows if check is _system_files else check for check in STREAM_CHECKS)
