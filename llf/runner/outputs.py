"""Storing an executed notebook and its HTML in the lake, in the run folder llf.services.lake.runs lays out."""

from __future__ import annotations

import shutil
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from llf.context import RunContext
from llf.services.lake import open_lake
from llf.services.lake.runs import html_key, notebook_key, run_folder
from llf.settings import state_dir

if TYPE_CHECKING:
    from nbconvert import HTMLExporter

UNSTORED = "unstored-outputs"  # under the state dir: executed notebooks the lake refused
_EXPORT = threading.Lock()  # one exporter, used by one thread at a time


@cache
def _html_exporter() -> HTMLExporter:
    from nbconvert import HTMLExporter

    return HTMLExporter()


@cache
def warm_html_exporter() -> None:
    """Export a one-cell notebook once: the first export compiles templates and the IPython lexer (~1 s).

    The notebook says what an ipykernel notebook says about its language, so the lexer warmed is the
    one real outputs use. Called by llf.runner.preload, or in the background by the runner.
    """
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(cells=[new_code_cell("x = 1")],
                            metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}})
    with _EXPORT:
        _html_exporter().from_notebook_node(notebook)


def warm_up_html_export() -> None:
    """Load nbconvert and its templates in the background while the kernel runs.

    A cold first export costs seconds of CPU (imports, templates, lexers) and the parent process mostly
    waits on the kernel meanwhile, so doing it then takes it off the run's critical path. A no-op when
    the worker was preloaded (llf.runner.preload).
    """
    threading.Thread(target=warm_html_exporter, name="llf-html-warm-up", daemon=True).start()


def store_outputs(context: RunContext, executed: Path) -> str:
    """Put the executed notebook and its HTML rendering in the lake; return the folder's location."""
    folder = run_folder(context)
    lake = open_lake()
    lake.put(notebook_key(folder, context.prcs_nm), executed)
    with _EXPORT:
        html, _ = _html_exporter().from_filename(str(executed))
    lake.put(html_key(folder, context.prcs_nm), html)
    return lake.location(folder + "/")


def keep_unstored(context: RunContext, executed: Path, lake_error: Exception) -> str:
    """Keep an executed notebook the lake refused; return the FAILED message naming the lake and the copy.

    The copy goes to <LLF_STATE_DIR>/unstored-outputs/<the run's lake folder>/ on this worker: not beside
    the run in the lake, which is what just failed, and not in the scratch folder, deleted when the run
    ends. The state dir is llf's own folder on the worker ($AIRFLOW_HOME/llf by default), and the path
    mirrors the lake's, so the file can be copied to its place in the lake once the lake is fixed.
    """
    problem = f"could not store the output notebook in the lake (check LLF_LAKE_URL): {str(lake_error).rstrip('.')}"
    kept = state_dir() / UNSTORED / run_folder(context) / f"{context.prcs_nm}.ipynb"
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(executed, kept)
    except OSError as keep_error:
        return f"{problem}; the executed notebook could not be kept on the worker either ({keep_error})"
    return f"{problem}; the executed notebook is kept at {kept.resolve()}"
