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

import ast
import datetime as dt
import difflib
import heapq
import json
import math
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

from llf.control.model import (
    AIRFLOW_ID_MAX_LENGTH,
    CRON_DESCRIPTION_MAX_LENGTH,
    MAX_PARALLEL_MAX,
    OWNER_MAX_LENGTH,
    PARAMS_MAX_DEPTH,
    RESERVED_GROUP_IDS,
    RETRIES_MAX,
    TIMEOUT_MIN_MAX,
    TOO_DEEP_PARAMS,
    Process,
    ProcessGroup,
    Schedule,
    Snapshot,
    Stream,
    stream_dag_id,
    stream_task_id,
    task_group_id,
)

# Every registered notebook is read at each snapshot refresh, inside the DAG file's import timeout: one
# huge file (saved outputs, a data dump renamed .ipynb) must not stall the parse of every stream.
NOTEBOOK_MAX_BYTES = 32 * 2**20
DETAIL_MAX_LENGTH = 300  # of an error message quoted in a problem: jsonschema's run to pages


def one_line(text: str, limit: int = DETAIL_MAX_LENGTH) -> str:
    """Text on one line, shortened: a problem is printed as exactly one line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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


def validate(snapshot: Snapshot, notebooks_dir: Path) -> list[Problem]:
    """Every problem of the active registrations, in a stable order; never raises.

    The last ones are the dependants of invalid streams, which are invalid too (see invalid_dependants).
    """
    memo = _MEMO.set({})
    try:
        problems = _guarded_cycles(snapshot)
        for stream in snapshot.active_streams():
            for check in STREAM_CHECKS:
                try:
                    problems.extend(check(snapshot, stream, notebooks_dir))
                except Exception as error:  # noqa: BLE001 - a check must not fail every stream: see the module docstring
                    problems.append(_check_failed(check.__name__, stream, error))
    finally:
        _MEMO.reset(memo)
    return problems + invalid_dependants(snapshot, {name for problem in problems for name in problem.streams})


# Verdicts on values many rows share (a notebook path, a cron expression in a time zone), kept for one validate()
# call: 10,000 processes running one notebook read it once, and an edited file is still seen at the next refresh.
_MEMO: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("llf_validation_memo", default=None)


def _memoised(function: Callable[..., Any], *arguments: Any) -> Any:
    """function(*arguments), or what it returned for the same arguments earlier in this validate() call."""
    memo, key = _MEMO.get(), (function, *arguments)
    if memo is None:
        return function(*arguments)
    if key not in memo:
        memo[key] = function(*arguments)
    return memo[key]


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
        f"{type(error).__name__}: {one_line(str(error))})",
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
            message, fix = "no system file registered", (
                f"INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) VALUES ({process.prcs_id}, "
                "'<notebook path relative to the notebooks folder>')"
            )
        else:
            reading = _memoised(read_notebook, system_file.file_path, notebooks_dir)
            message, fix = reading.message, reading.fix
            if not message:
                problems.extend(
                    Problem("cntl_cfg_prcs", _row(process), typo, rename, frozenset({stream.strem_nm}))
                    for typo, rename in _unknown_params(process, system_file.file_path, reading.parameters))
                continue
        problems.append(
            Problem(
                table="cntl_cfg_sys_file",
                row=_row(process) + (f", file_path={one_line(system_file.file_path)}" if system_file else ""),
                message=message,
                fix=fix,
                streams=frozenset({stream.strem_nm}),
            )
        )
    return problems


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


def resolve_notebook(file_path: str, notebooks_dir: Path) -> Path:
    """The notebook's absolute path; ValueError when the registered path leaves the notebooks folder."""
    relative = PurePosixPath(file_path)
    if relative.is_absolute() or ".." in relative.parts or not file_path.strip():
        raise ValueError(f"path {file_path!r} is not inside the notebooks folder")
    resolved = (notebooks_dir / relative).resolve()
    if not resolved.is_relative_to(notebooks_dir.resolve()):  # a symlink pointing outside
        raise ValueError(f"path {file_path!r} resolves outside the notebooks folder")
    return resolved


_NOT_A_NOTEBOOK_FIX = "save the file from Jupyter as a notebook (.ipynb) with the Python 3 kernel"


@dataclass(frozen=True)
class NotebookReading:
    """What validation needs of one notebook file: its problem, if any, and the parameters it declares."""

    message: str
    fix: str
    parameters: tuple[str, ...] = ()


# Readings are memoised for one validate() call only (_memoised: by registered path in the checks, by resolved
# path in read_notebook): 10,000 processes often share a few notebooks, and every snapshot refresh of the DAG
# file validates them all; the next call reads the files again, so an edited notebook is seen.


def notebook_problem(file_path: str, notebooks_dir: Path) -> tuple[str, str]:
    """(message, fix) for a registered notebook path, or ("", "") when it is runnable.

    Used by `llf validate` and the DAG builder, and again by the runner right before a run: the file may
    have changed since the last snapshot, and papermill's own errors on a malformed notebook name no fix.
    """
    reading = read_notebook(file_path, notebooks_dir)
    return reading.message, reading.fix


def read_notebook(file_path: str, notebooks_dir: Path) -> NotebookReading:
    """The notebook at a registered path, checked as papermill needs it; read once per validate() call."""
    try:
        notebook_path = resolve_notebook(file_path, notebooks_dir)
        if not notebook_path.is_file():
            return NotebookReading(f"notebook not found at {notebook_path}", "create the notebook or correct file_path")
        stat = notebook_path.stat()
        if stat.st_size > NOTEBOOK_MAX_BYTES:
            return NotebookReading(
                f"the notebook is {stat.st_size / 2**20:.0f} MiB, more than the {NOTEBOOK_MAX_BYTES // 2**20} MiB "
                "llf reads", "clear its outputs (Edit > Clear Outputs of All Cells) or keep data in the lake")
    except ValueError as error:
        return NotebookReading(one_line(str(error)), f"use a path relative to {notebooks_dir}, without ../")
    except (OSError, RuntimeError) as error:  # a name too long, a symlink loop (RuntimeError), ...
        return NotebookReading(f"the path cannot be opened ({type(error).__name__}: {one_line(str(error))})",
                               f"point file_path at a notebook file inside {notebooks_dir}")
    return _memoised(_read_notebook_file, notebook_path)  # one read per file, however many rows name it


def _read_notebook_file(notebook_path: Path) -> NotebookReading:
    try:
        import nbformat  # ~0.2 s, needed only when validating

        # nbformat fails on hostile files in many ways: NotJSONError, its jsonschema ValidationError,
        # NBFormatError, UnicodeDecodeError, and TypeError/AttributeError/KeyError on JSON that is no
        # notebook object ({}, [], "x", cells that are not a list, ...).
        notebook = nbformat.read(notebook_path, as_version=4)
        message, fix = _notebook_content_problem(notebook)
        return NotebookReading(message, fix, () if message else declared_parameters(notebook))
    except Exception as error:  # noqa: BLE001 - nbformat fails on hostile files in many ways, listed above
        return NotebookReading(f"not a readable Jupyter notebook ({type(error).__name__}: {one_line(str(error))})",
                               _NOT_A_NOTEBOOK_FIX)


def declared_parameters(notebook: Any) -> tuple[str, ...]:
    """The names the first cell tagged 'parameters' assigns, the cell papermill injects after.

    Parsed with Python's own parser (papermill's translator costs ~0.5 s of imports per DAG-file refresh);
    a cell Python cannot parse (IPython magics, a typo) falls back to papermill's line-based reader, which
    is what the runner's `papermill.inspect_notebook` uses.
    """
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        from papermill.translators import PythonTranslator

        return tuple(dict.fromkeys(parameter.name for parameter in PythonTranslator.inspect({"source": source})))
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            elements = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
            names.extend(element.id for element in elements if isinstance(element, ast.Name))
    return tuple(dict.fromkeys(names))


def _notebook_content_problem(notebook: Any) -> tuple[str, str]:
    """What papermill needs of a notebook: cells whose tags are lists, a 'parameters' cell, a kernel."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return "the notebook has no list of cells", _NOT_A_NOTEBOOK_FIX
    tagged = False
    for index, cell in enumerate(cells):
        metadata = cell.get("metadata", {}) if isinstance(cell, dict) else None
        tags = metadata.get("tags", []) if isinstance(metadata, dict) else None
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            return (
                f"cell {index} of the notebook has metadata.tags = {one_line(json.dumps(tags), 80)}, "
                "not a list of strings",
                "set the cell's tags in Jupyter (View > Cell Toolbar > Tags) and save",
            )
        tagged = tagged or "parameters" in tags
    if not tagged:
        return (
            "the notebook has no cell tagged 'parameters'",
            "tag the cell holding the default parameters with 'parameters' (View > Cell Toolbar > Tags)",
        )
    metadata = notebook.get("metadata")
    kernelspec = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    language_info = metadata.get("language_info") if isinstance(metadata, dict) else None
    kernel = kernelspec.get("name") if isinstance(kernelspec, dict) else None
    language = (kernelspec.get("language") if isinstance(kernelspec, dict) else None) or (
        language_info.get("name") if isinstance(language_info, dict) else None)
    if not (isinstance(kernel, str) and kernel and isinstance(language, str) and language):
        return (
            "the notebook names no kernel and language (metadata.kernelspec), so papermill cannot read "
            "its parameters",
            "open it in Jupyter, select the Python 3 kernel and save",
        )
    return "", ""


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
        for message, fix in _memoised(_schedule_verdict, schedule.cron_expr, schedule.timezone):
            problems.append(Problem("cntl_cfg_schedule", row, message, fix, frozenset({stream.strem_nm})))
    return problems


_CRON_FIX = "use minute hour day-of-month month day-of-week, e.g. '0 6 * * 1-5', or an alias such as '@daily'"

# The aliases Airflow's CronTriggerTimetable expands (airflow.sdk.definitions.timetables._cron.CRON_PRESETS,
# checked by tests/control/test_validation.py): the DAG builder hands cron_expr to it unchanged.
CRON_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}

# (name, lowest, highest, names croniter also takes) of the five fields, in order.
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ("L",)),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)


def _schedule_verdict(cron_expr: str, timezone: str) -> list[tuple[str, str]]:
    """_schedule_problems of the expression in the time zone, whichever stream registered them."""
    return list(_schedule_problems(Schedule(schedule_id=0, strem_id=0, cron_expr=cron_expr, timezone=timezone)))


def _schedule_problems(schedule: Schedule) -> Iterable[tuple[str, str]]:
    try:
        timezone = ZoneInfo(schedule.timezone)
    except (KeyError, ValueError, OSError, TypeError):  # ZoneInfoNotFoundError is a KeyError; the rest on odd keys
        timezone = None
        yield (f"timezone {one_line(repr(schedule.timezone), 80)} is not an IANA time zone",
               "use a name such as 'UTC' or 'Europe/Paris'")
    problem = _cron_problem(schedule.cron_expr, timezone)
    if problem:
        yield problem


def _cron_problem(expression: str, timezone: ZoneInfo | None) -> tuple[str, str] | None:
    """What Airflow's CronTriggerTimetable would refuse (or never fire), with the field and the reason.

    Airflow expands its aliases, then asks croniter; so does this. croniter decides; the field-by-field
    reading only explains its refusal ("out of range" names no field), so the two can never disagree.
    """
    from croniter import croniter

    quoted = one_line(repr(expression), 120)
    fields = CRON_ALIASES.get(expression.strip(), expression).split()
    if len(fields) == 1 and fields[0].startswith("@"):
        return (f"cron_expr {quoted} is not an alias Airflow expands ({', '.join(CRON_ALIASES)})", _CRON_FIX)
    if len(fields) != 5:
        return (f"cron_expr {quoted} has {len(fields)} field(s); Airflow takes exactly five "
                "(minute hour day-of-month month day-of-week)", _CRON_FIX)
    try:
        cron = croniter(" ".join(fields), dt.datetime.now(timezone or dt.UTC))  # what Airflow's timetable checks
    except (ValueError, TypeError) as error:  # croniter's CroniterError family; TypeError on mixed ranges
        reason = _cron_field_reason(fields) or one_line(str(error), 120)
        return f"cron_expr {quoted} is not a valid cron expression: {reason}", _CRON_FIX
    try:
        cron.get_next(dt.datetime)
        cron.get_prev(dt.datetime)
    except ValueError:  # CroniterBadDateError (a ValueError): no matching date within croniter's search
        return (f"cron_expr {quoted} never fires (no such date, e.g. 31 February)",
                "correct day-of-month and month, e.g. '0 6 28 2 *'")
    description = _cron_description(" ".join(fields))
    if len(description) > CRON_DESCRIPTION_MAX_LENGTH:
        return (f"cron_expr {quoted} is described in {len(description)} characters; "
                f"Airflow stores at most {CRON_DESCRIPTION_MAX_LENGTH}", "use ranges and steps instead of long lists")
    return None


def _cron_field_reason(fields: list[str]) -> str:
    """The first value out of its field's range, bad step or unknown name, e.g. "the hour field 25 is outside
    0-23"; "" when none is found (croniter's own message is quoted then)."""
    for (name, low, high, names), field in zip(_CRON_FIELDS, fields, strict=True):
        for part in field.split(","):
            body, slash, step = part.partition("/")
            if slash and not (step.isdigit() and int(step) > 0):
                return f"the {name} field {field} has step {step!r}; a step is a whole number from 1"
            for value in [] if body in ("*", "?") else body.split("-"):
                where = f"the {name} field {value}" if value == field else f"the {name} field {field}: {value}"
                if value.isdigit() and not low <= int(value) <= high:
                    return f"{where} is outside {low}-{high}"
                if value.isalpha() and value.upper() not in names:
                    return (f"{where} is not a number {low}-{high}"
                            + (f" or one of {', '.join(names)}" if names else ""))
                if not value:
                    return f"the {name} field {field} has an empty value"
    return ""


def _cron_description(expression: str) -> str:
    """The description Airflow stores with a cron schedule (airflow.timetables._cron.CronMixin), or ""."""
    from cron_descriptor import CasingTypeEnum, ExpressionDescriptor, FormatException, MissingFieldException

    def describe(fields: list[str]) -> str:
        return ExpressionDescriptor(" ".join(fields), casing_type=CasingTypeEnum.Sentence,
                                    use_24hour_time_format=True).get_description()

    fields = expression.split()
    try:
        if fields[2] != "*" and fields[4] != "*":  # day of month OR day of week, described as both
            return f"{describe([*fields[:4], '*'])} (or) {describe([*fields[:2], '*', *fields[3:]])}"
        return describe(fields)
    except (FormatException, MissingFieldException):  # what Airflow catches to store ""
        return ""


# Run per stream, in this order (after the cycle check, which spans streams).
STREAM_CHECKS: tuple[StreamCheck, ...] = (
    _inactive_dependencies,
    _system_files,
    _processes,
    _schedules,
    _stream,
    _groups,
)
