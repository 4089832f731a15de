"""Pinned notebooks: the registration records the SHA-256 of each notebook's bytes (cntl_cfg_sys_file.content_sha256),
and the runner refuses to run other content (llf.runner.notebook.pinned_copy).

JupyterLab and the workers read the same notebooks folder; without a pin, anyone who may edit a file there
changes what production runs, with no right on the registrations. A pin is written by whoever registers:
`llf sync` and `llf db apply` pin the notebooks they register (rows with no pin yet), `llf pin` re-pins a
notebook someone changed and reviewed. The hash is of the resolved file (after symlinks), what the kernel runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg2.extensions

from llf.control.model import Snapshot
from llf.control.notebooks import bounded_bytes, resolve_notebook
from llf.db import transaction
from llf.text import DETAIL_MAX_LENGTH, one_line

SHORT = 8  # hex digits shown of a hash: enough to tell two versions of one notebook apart

_ROWS = ("SELECT f.sys_file_id, p.prcs_nm, f.file_path, f.content_sha256 FROM cntl_af.cntl_cfg_sys_file f "
         "JOIN cntl_af.cntl_cfg_prcs p USING (prcs_id)")
_PIN = ("UPDATE cntl_af.cntl_cfg_sys_file SET content_sha256 = %s, updated_ts = now() "
        "WHERE sys_file_id = ANY(%s) AND file_path = %s")


def content_sha256(data: bytes) -> str:
    """The pin of a notebook's bytes: SHA-256, lower-case hex (what content_sha256 holds)."""
    return hashlib.sha256(data).hexdigest()


def short(digest: str | None) -> str:
    return digest[:SHORT] if digest else "not pinned"


def changed_since_pinned(file_path: str, pinned: str, now: str, processes: Iterable[str] = ()) -> str:
    """The one sentence for a notebook whose content is not the pinned one (the runner's and validate's)."""
    names = ", ".join(processes)
    return (f"{file_path}{f' ({names})' if names else ''} changed since it was pinned (pinned {short(pinned)}, "
            f"now {short(now)}): review it, then run `llf pin {file_path}`")


def file_sha256(file_path: str, notebooks_dir: Path) -> str:
    """The hash of the registered notebook's current bytes; ValueError (a sentence) when it cannot be read, is no
    regular file, or is larger than llf reads (llf.control.notebooks.bounded_bytes)."""
    try:
        path = resolve_notebook(file_path, notebooks_dir)
        return content_sha256(bounded_bytes(path))
    except FileNotFoundError:
        raise ValueError(f"notebook not found at {resolve_notebook(file_path, notebooks_dir)}") from None
    except (OSError, RuntimeError) as error:  # a folder, no permission, a symlink loop (RuntimeError) ...
        raise ValueError(f"the notebook cannot be read ({type(error).__name__}: "
                         f"{one_line(error, DETAIL_MAX_LENGTH)})") from None


@dataclass(frozen=True)
class Row:
    """One registered notebook row: its id (None: a row a dry-run sync would insert), process, path, pin."""

    sys_file_id: int | None
    prcs_nm: str
    file_path: str
    pinned: str | None


@dataclass(frozen=True)
class Pin:
    """The pin of one notebook file, for the processes that run it: `new` None when it could not be read
    (`problem` says why); `new == old` when it was already pinned as it is."""

    file_path: str
    processes: tuple[str, ...]
    old: str | None
    new: str | None
    problem: str = ""

    @property
    def changed(self) -> bool:
        return self.new is not None and self.new != self.old

    def line(self, dry_run: bool = False) -> str:
        names = ", ".join(self.processes)
        if self.new is None:
            return (f"{self.file_path} ({names}): not pinned: {self.problem}; once it is there, run "
                    f"`llf pin {self.file_path}`")
        if not self.changed:
            return f"{self.file_path}: {short(self.new)}, unchanged ({names})"
        verb = "would pin" if dry_run else "pinned"
        return f"{verb} {self.file_path}: {short(self.old)} → {short(self.new)} ({names})"


def registered_rows(cursor: psycopg2.extensions.cursor) -> list[Row]:
    cursor.execute(_ROWS + " ORDER BY f.file_path, p.prcs_nm")
    return [Row(*row) for row in cursor.fetchall()]


def pin_rows(cursor: psycopg2.extensions.cursor, rows: Iterable[Row], notebooks_dir: Path,
             dry_run: bool = False) -> list[Pin]:
    """Pin each row to its file's current hash (one read per file, rows grouped by file and old pin).

    A file that cannot be read leaves its rows as they are, with the reason in its Pin. Only rows whose path
    is still the one read are written, so a row re-pointed meanwhile is never pinned to another file's hash.
    """
    by_file: dict[tuple[str, str | None], list[Row]] = {}
    for row in sorted(rows, key=lambda r: (r.file_path, r.pinned or "", r.prcs_nm)):
        by_file.setdefault((row.file_path, row.pinned), []).append(row)
    hashes: dict[str, str | ValueError] = {}
    pins = []
    for (file_path, old), group in by_file.items():
        if file_path not in hashes:
            try:
                hashes[file_path] = file_sha256(file_path, notebooks_dir)
            except ValueError as error:
                hashes[file_path] = error
        new = hashes[file_path]
        names = tuple(row.prcs_nm for row in group)
        if isinstance(new, ValueError):
            pins.append(Pin(file_path, names, old, None, str(new)))
            continue
        pins.append(Pin(file_path, names, old, new))
        ids = [row.sys_file_id for row in group if row.sys_file_id is not None]
        if not dry_run and new != old and ids:
            cursor.execute(_PIN, (new, ids, file_path))
    return pins


def unpinned_new_rows(cursor: psycopg2.extensions.cursor, before: Iterable[Row]) -> list[Row]:
    """Rows without a pin that were not there, or named another file, in `before` (read earlier in the same
    transaction): what a registration script just registered. Rows it did not touch keep no pin: pinning a
    notebook nobody registered now would bless whatever its file holds today."""
    known = {(row.sys_file_id, row.file_path) for row in before}
    return [row for row in registered_rows(cursor) if row.pinned is None and (row.sys_file_id, row.file_path)
            not in known]


def declared_rows(cursor: psycopg2.extensions.cursor, declared: dict[str, str]) -> list[Row]:
    """Of the processes a stream file declares ({prcs_nm: notebook}), those to pin: registered without a pin,
    registered with another file, or not registered yet (a dry run, before the sync inserts them)."""
    registered = {row.prcs_nm: row for row in registered_rows(cursor) if row.prcs_nm in declared}
    rows = []
    for prcs_nm, file_path in declared.items():
        row = registered.get(prcs_nm)
        if row is None or row.file_path != file_path:
            rows.append(Row(row.sys_file_id if row else None, prcs_nm, file_path, None))
        elif row.pinned is None:
            rows.append(row)
    return rows


def pin_files(url: str, notebooks_dir: Path, targets: list[str] | None,
              dry_run: bool = False) -> tuple[list[Pin], list[str]]:
    """`llf pin`: pin the rows registering each target (every row when `targets` is None) to the file's
    current hash, in one transaction. Returns the pins and a sentence per target no process registers."""
    with transaction(url) as cursor:
        rows = registered_rows(cursor)
        selected, unknown = _select(rows, targets, notebooks_dir)
        return pin_rows(cursor, selected, notebooks_dir, dry_run), unknown


def _select(rows: list[Row], targets: list[str] | None, notebooks_dir: Path) -> tuple[list[Row], list[str]]:
    """The rows each target names: a registered file_path as written, or a path (relative to the notebooks
    folder or to the current folder) of the same file once symlinks are resolved."""
    if targets is None:
        return rows, []
    resolved = {row.file_path: _resolved(row.file_path, notebooks_dir) for row in rows}
    selected: dict[int | None, Row] = {}
    unknown = []
    for target in targets:
        places = {_resolved(target, notebooks_dir), _inside(Path(target), notebooks_dir)} - {None}
        named = [row for row in rows if row.file_path == target or resolved[row.file_path] in places]
        if not named:
            unknown.append(f"{target}: no process registers this notebook (cntl_af.cntl_cfg_sys_file.file_path); "
                           "register it first (`llf sync` or `llf db apply`)")
        selected.update((row.sys_file_id, row) for row in named)
    return list(selected.values()), unknown


def _resolved(file_path: str, notebooks_dir: Path) -> Path | None:
    try:
        return resolve_notebook(file_path, notebooks_dir)
    except (ValueError, OSError, RuntimeError):
        return None


def _inside(path: Path, notebooks_dir: Path) -> Path | None:
    """`path` (relative to the current folder) resolved, when it is a file inside the notebooks folder."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(notebooks_dir.resolve()) else None


@dataclass(frozen=True)
class PinReport:
    """`llf validate`'s view of the pins: notebooks whose runs fail (changed since pinned), and notebooks that
    run unchecked (no pin). Kept out of llf.control.validation, whose problems stop a stream's DAGs: a changed
    notebook fails its own runs, with the same sentence, and an unpinned one is a warning."""

    changed: list[str]
    unpinned: list[str]


def pin_report(snapshot: Snapshot, notebooks_dir: Path) -> PinReport:
    """Every active process's notebook against its pin; a file that cannot be read is validate's own problem."""
    by_file: dict[tuple[str, str | None], list[str]] = {}
    for process in snapshot.active_processes():
        system_file = snapshot.system_file_by_process_id.get(process.prcs_id)
        if system_file is not None:
            by_file.setdefault((system_file.file_path, system_file.content_sha256), []).append(process.prcs_nm)
    report = PinReport([], [])
    for (file_path, pinned), names in sorted(by_file.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        if pinned is None:
            report.unpinned.append(f"{file_path} ({', '.join(sorted(names))}) is not pinned: it runs whatever the "
                                   f"file holds; review it, then run `llf pin {file_path}`")
            continue
        try:
            now = file_sha256(file_path, notebooks_dir)
        except ValueError:
            continue
        if now != pinned:
            report.changed.append(changed_since_pinned(file_path, pinned, now, sorted(names)))
    return report
