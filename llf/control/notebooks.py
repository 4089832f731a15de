"""Whether a registered notebook file can run: inside the notebooks folder, readable, not huge, a Jupyter
notebook with a 'parameters' cell and a kernel, and which parameters that cell declares.

`llf validate` and the DAG builder check every registered path at each snapshot refresh; the runner checks
its one notebook again right before a run (the file may have changed since), so these checks say what
papermill would only fail on, with the fix.
"""

from __future__ import annotations

import ast
import json
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from llf.control.memo import memoised
from llf.text import DETAIL_MAX_LENGTH, one_line

# Every registered notebook is read at each snapshot refresh, inside the DAG file's import timeout: one
# huge file (saved outputs, a data dump renamed .ipynb) must not stall the parse of every stream.
NOTEBOOK_MAX_BYTES = 32 * 2**20


def too_large(size: int) -> str:
    """The sentence for a notebook past NOTEBOOK_MAX_BYTES (validate's, the pin's and the runner's)."""
    return f"the notebook is {size / 2**20:.0f} MiB, more than the {NOTEBOOK_MAX_BYTES // 2**20} MiB llf reads"


def bounded_bytes(path: Path) -> bytes:
    """A notebook's bytes, never more than NOTEBOOK_MAX_BYTES read: ValueError (a sentence) past the bound, and
    for a FIFO, device or socket, whose read would wait for a writer or never end. Whatever reads a registered
    notebook's bytes (a pin, the runner's pinned copy) goes through here, so one stray file in the notebooks
    folder can fill neither the memory of `llf pin` nor a worker's."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise ValueError(f"{path} is not a regular file")
    with path.open("rb") as file:
        data = file.read(NOTEBOOK_MAX_BYTES + 1)  # +1: a file that grew past the bound since stat() is still caught
    if len(data) > NOTEBOOK_MAX_BYTES:
        raise ValueError(too_large(max(path.stat().st_size, len(data))))
    return data


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


# Readings are memoised for one validate() call only (llf.control.memo: by registered path in the checks, by
# resolved path in read_notebook): 10,000 processes often share a few notebooks, and every snapshot refresh of
# the DAG file validates them all; the next call reads the files again, so an edited notebook is seen.


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
        size = notebook_path.stat().st_size
        if size > NOTEBOOK_MAX_BYTES:
            return NotebookReading(too_large(size), "clear its outputs (Edit > Clear Outputs of All Cells) or keep "
                                                    "data in the lake")
    except ValueError as error:
        return NotebookReading(one_line(error, DETAIL_MAX_LENGTH),
                               f"use a path relative to {notebooks_dir}, without ../")
    except (OSError, RuntimeError) as error:  # a name too long, a symlink loop (RuntimeError), ...
        detail = one_line(error, DETAIL_MAX_LENGTH)
        return NotebookReading(f"the path cannot be opened ({type(error).__name__}: {detail})",
                               f"point file_path at a notebook file inside {notebooks_dir}")
    return memoised(_read_notebook_file, notebook_path)  # one read per file, however many rows name it


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
        detail = one_line(error, DETAIL_MAX_LENGTH)
        return NotebookReading(f"not a readable Jupyter notebook ({type(error).__name__}: {detail})",
                               _NOT_A_NOTEBOOK_FIX)


def declared_parameters(notebook: Any) -> tuple[str, ...]:
    """The names the first cell tagged 'parameters' assigns, the cell papermill injects after.

    Parsed with Python's own parser (papermill's translator costs ~0.5 s of imports per DAG-file refresh);
    a cell Python cannot parse (IPython magics, a typo) falls back to papermill's line-based reader, which
    is what the runner's `papermill.inspect_notebook` uses.
    """
    source = _parameters_source(notebook) or ""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        from papermill.translators import PythonTranslator

        return tuple(dict.fromkeys(parameter.name for parameter in PythonTranslator.inspect({"source": source})))
    names: list[str] = []
    for node in tree.body:
        for target in _assigned(node):
            elements = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
            names.extend(element.id for element in elements if isinstance(element, ast.Name))
    return tuple(dict.fromkeys(names))


def parameter_defaults(notebook: Any) -> dict[str, Any]:
    """The literal values the parameters cell assigns to single names (`limit = 3`, `day: str = "2026-01-31"`):
    what a run replaces, and what a notebook tried outside a run starts from. A value that is no literal (a call,
    an expression), and a cell Python cannot parse, give nothing."""
    try:
        tree = ast.parse(_parameters_source(notebook) or "")
    except (SyntaxError, ValueError):
        return {}
    defaults: dict[str, Any] = {}
    for node in tree.body:
        targets, value = _assigned(node), getattr(node, "value", None)
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or value is None:
            continue
        try:
            defaults[targets[0].id] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            continue
    return defaults


def _parameters_source(notebook: Any) -> str | None:
    """The source of the first code cell tagged 'parameters' (papermill's), None when there is none."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and "parameters" in ((cell.get("metadata") or {}).get("tags") or []):
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else str(source)
    return None


def _assigned(node: ast.stmt) -> list[ast.expr]:
    """The targets of an assignment statement (`a = b = 1`, `a: int = 1`); none for any other statement."""
    if isinstance(node, ast.Assign):
        return list(node.targets)
    return [node.target] if isinstance(node, ast.AnnAssign) else []


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
