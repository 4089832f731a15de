"""Executing one notebook with papermill and a real kernel, turning every way it can fail into a clear message."""

from __future__ import annotations

import keyword
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import papermill
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from llf.control.validation import resolve_notebook

log = logging.getLogger(__name__)


class NotebookRejected(Exception):
    """The notebook cannot be run as registered (path, parameters cell, parameter names)."""


@dataclass(frozen=True)
class NotebookOutcome:
    """How an execution ended: `error` is None on success, else the message for the run log."""

    output_notebook: Path
    error: str | None


def resolve(file_path: str, notebooks_dir: Path) -> Path:
    """The notebook to run, confined to the notebooks folder."""
    try:
        path = resolve_notebook(file_path, notebooks_dir)
    except ValueError as error:
        raise NotebookRejected(f"{error}; fix cntl_cfg_sys_file.file_path") from error
    if not path.is_file():
        raise NotebookRejected(f"notebook not found: {path} (fix cntl_cfg_sys_file.file_path or add the file)")
    return path


def parameters_for(notebook: Path, registered: Mapping[str, Any], run_context: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters to inject: every registered param, plus the run-context values the notebook declares.

    Refuses what papermill cannot inject and warns about registered params the notebook does not declare
    (they are injected anyway: the registration is the user's intent).
    """
    bad_names = [name for name in registered if not str(name).isidentifier() or keyword.iskeyword(name)]
    if bad_names:
        raise NotebookRejected(
            f"params {bad_names} are not valid Python names, so they cannot be injected; "
            "rename them in cntl_cfg_prcs.params"
        )
    declared = papermill.inspect_notebook(str(notebook))
    if not declared and not _has_parameters_cell(notebook):
        raise NotebookRejected(f"{notebook.name} has no cell tagged 'parameters'; tag the cell holding its defaults")
    unknown = sorted(set(registered) - set(declared))
    if unknown:
        log.warning("params %s are not declared in the parameters cell of %s; they are injected anyway",
                    unknown, notebook.name)
    return {**registered, **{name: value for name, value in run_context.items() if name in declared}}


def _has_parameters_cell(notebook: Path) -> bool:
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in cells)


@contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    """Export settings to the kernel (it inherits this process's environment), then restore."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute(
    notebook: Path,
    output_notebook: Path,
    parameters: Mapping[str, Any],
    *,
    timeout_min: float,
    kernel_env: Mapping[str, str],
) -> NotebookOutcome:
    """Run the notebook; the whole run (not each cell) is bounded by `timeout_min`."""
    deadline = time.monotonic() + timeout_min * 60

    def seconds_left(_cell: object) -> int:
        return max(1, int(deadline - time.monotonic()))

    try:
        with _environment(kernel_env):
            papermill.execute_notebook(
                str(notebook), str(output_notebook), parameters=dict(parameters),
                kernel_name="python3", progress_bar=False, cwd=str(notebook.parent),
                timeout_func=seconds_left,
            )
    except PapermillExecutionError as error:
        return NotebookOutcome(
            output_notebook, f"{error.ename}: {error.evalue} (cell {error.exec_count}, index {error.cell_index})"
        )
    except (CellTimeoutError, TimeoutError):
        return NotebookOutcome(output_notebook, f"timed out after {timeout_min:g} min; the kernel was stopped")
    except DeadKernelError as error:
        return NotebookOutcome(output_notebook, f"DeadKernelError: the kernel died ({error})")
    return NotebookOutcome(output_notebook, None)
