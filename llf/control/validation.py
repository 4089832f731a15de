"""`llf validate`: problems in the registrations that the database alone cannot refuse.

Each problem names the table, the row and the fix, and the streams it affects, so the DAG builder can
isolate a bad stream while every other stream still loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import nbformat
from croniter import croniter

from llf.control.model import Process, Snapshot


@dataclass(frozen=True)
class Problem:
    table: str
    row: str
    message: str
    fix: str
    streams: frozenset[str]

    def __str__(self) -> str:
        return f"{self.table} ({self.row}): {self.message}. Fix: {self.fix}."


def validate(snapshot: Snapshot, notebooks_dir: Path) -> list[Problem]:
    """Every problem of the active registrations, in a stable order."""
    checks = (
        _cycles,
        _inactive_dependencies,
        _system_files,
        _params,
        _schedules,
        _empty_streams_and_groups,
    )
    return [problem for check in checks for problem in check(snapshot, notebooks_dir)]


def _row(process: Process) -> str:
    return f"prcs_id={process.prcs_id}, prcs_nm={process.prcs_nm}"


def _streams_of(snapshot: Snapshot, *processes: Process) -> frozenset[str]:
    return frozenset(snapshot.stream_of(p).strem_nm for p in processes)


def _cycles(snapshot: Snapshot, _: Path) -> list[Problem]:
    """Each dependency cycle once, naming every process in it (graphlib finds one cycle at a time)."""
    graph = {
        p.prcs_id: {d.prcs_id for d in snapshot.dependencies_of(p) if snapshot.is_active(d)}
        for p in snapshot.active_processes()
    }
    problems = []
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


def _inactive_dependencies(snapshot: Snapshot, _: Path) -> list[Problem]:
    problems = []
    for process in snapshot.active_processes():
        for dependency in snapshot.dependencies_of(process):
            if not snapshot.is_active(dependency):
                problems.append(
                    Problem(
                        table="cntl_cfg_prcs_depn",
                        row=f"prcs_nm={process.prcs_nm}, depn_prcs_nm={dependency.prcs_nm}",
                        message=f"{process.prcs_nm} depends on inactive process {dependency.prcs_nm} "
                        "(it, its group or its stream has actv_flg = false), so it could never run",
                        fix=f"activate {dependency.prcs_nm} or set this dependency's actv_flg = false",
                        streams=_streams_of(snapshot, process),
                    )
                )
    return problems


def _system_files(snapshot: Snapshot, notebooks_dir: Path) -> list[Problem]:
    problems = []
    for process in snapshot.active_processes():
        system_file = snapshot.system_file_by_process_id.get(process.prcs_id)
        if system_file is None:
            message, fix = "no system file registered", (
                f"INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) VALUES ({process.prcs_id}, "
                "'<notebook path relative to the notebooks folder>')"
            )
        else:
            message, fix = _notebook_problem(system_file.file_path, notebooks_dir)
            if not message:
                continue
        problems.append(
            Problem(
                table="cntl_cfg_sys_file",
                row=_row(process) + (f", file_path={system_file.file_path}" if system_file else ""),
                message=message,
                fix=fix,
                streams=_streams_of(snapshot, process),
            )
        )
    return problems


def resolve_notebook(file_path: str, notebooks_dir: Path) -> Path:
    """The notebook's absolute path; ValueError when the registered path leaves the notebooks folder."""
    relative = PurePosixPath(file_path)
    if relative.is_absolute() or ".." in relative.parts or not file_path.strip():
        raise ValueError(f"path {file_path!r} is not inside the notebooks folder")
    resolved = (notebooks_dir / relative).resolve()
    if not resolved.is_relative_to(notebooks_dir.resolve()):  # a symlink pointing outside
        raise ValueError(f"path {file_path!r} resolves outside the notebooks folder")
    return resolved


def _notebook_problem(file_path: str, notebooks_dir: Path) -> tuple[str, str]:
    """(message, fix) for a registered notebook path, or ("", "") when it is runnable."""
    try:
        notebook_path = resolve_notebook(file_path, notebooks_dir)
    except ValueError as error:
        return str(error), f"use a path relative to {notebooks_dir}, without ../"
    if not notebook_path.is_file():
        return f"notebook not found at {notebook_path}", "create the notebook or correct file_path"
    try:
        notebook = nbformat.read(notebook_path, as_version=4)
    except (OSError, ValueError, json.JSONDecodeError) as error:
        return f"not a readable notebook ({error})", "save the file as a Jupyter notebook (.ipynb)"
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in notebook.cells):
        return (
            "the notebook has no cell tagged 'parameters'",
            "tag the cell holding the default parameters with 'parameters' (View > Cell Toolbar > Tags)",
        )
    return "", ""


def _params(snapshot: Snapshot, _: Path) -> list[Problem]:
    return [
        Problem(
            table="cntl_cfg_prcs",
            row=_row(process),
            message=f"params is {json.dumps(process.params)}, not a JSON object",
            fix="""set params to a JSON object, e.g. '{"top_k": 5}'::jsonb""",
            streams=_streams_of(snapshot, process),
        )
        for process in snapshot.active_processes()
        if not isinstance(process.params, dict)
    ]


def _schedules(snapshot: Snapshot, _: Path) -> list[Problem]:
    problems = []
    for schedule in snapshot.schedules:
        stream = snapshot.stream_by_id[schedule.strem_id]
        if not (schedule.actv_flg and stream.actv_flg):
            continue
        row = f"schedule_id={schedule.schedule_id}, strem_nm={stream.strem_nm}"
        if not croniter.is_valid(schedule.cron_expr) or len(schedule.cron_expr.split()) != 5:
            problems.append(
                Problem(
                    "cntl_cfg_schedule",
                    row,
                    f"cron_expr {schedule.cron_expr!r} is not a five-field cron expression",
                    "use minute hour day-of-month month day-of-week, e.g. '0 6 * * 1-5'",
                    frozenset({stream.strem_nm}),
                )
            )
        try:
            ZoneInfo(schedule.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                Problem(
                    "cntl_cfg_schedule",
                    row,
                    f"timezone {schedule.timezone!r} is not an IANA time zone",
                    "use a name such as 'UTC' or 'Europe/Paris'",
                    frozenset({stream.strem_nm}),
                )
            )
    return problems


def _empty_streams_and_groups(snapshot: Snapshot, _: Path) -> list[Problem]:
    problems = []
    for stream in snapshot.active_streams():
        groups = snapshot.active_groups(stream)
        if not groups:
            problems.append(
                Problem(
                    "cntl_cfg_strem",
                    f"strem_id={stream.strem_id}, strem_nm={stream.strem_nm}",
                    "the stream has no active process group",
                    "register a process group for it or set the stream's actv_flg = false",
                    frozenset({stream.strem_nm}),
                )
            )
        for group in groups:
            if not snapshot.active_processes(group):
                problems.append(
                    Problem(
                        "cntl_cfg_prcs_grp",
                        f"prcs_grp_id={group.prcs_grp_id}, prcs_grp_nm={group.prcs_grp_nm}, "
                        f"strem_nm={stream.strem_nm}",
                        "the group has no active process",
                        "register a process in it or set the group's actv_flg = false",
                        frozenset({stream.strem_nm}),
                    )
                )
    return problems
