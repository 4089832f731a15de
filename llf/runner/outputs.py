"""Storing an executed notebook and its HTML in the lake, in the run folder llf.services.lake.runs lays out.

The notebook is the record of what the attempt did; its HTML is a convenience for reading it. So the two fail
apart: a lake that refuses the notebook is a lake problem (the copy is kept on the worker), while an HTML
rendering that fails leaves the stored notebook in place and a page saying so where the HTML would be.
"""

from __future__ import annotations

import html
import logging
import shutil
import threading
from functools import cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import quote

from llf.context import RunContext
from llf.exceptions import LlfError
from llf.services.lake import open_lake
from llf.services.lake.runs import html_key, notebook_key, run_folder
from llf.settings import state_dir
from llf.text import one_line

if TYPE_CHECKING:
    from nbconvert import HTMLExporter

log = logging.getLogger(__name__)

UNSTORED = "unstored-outputs"  # under the state dir: executed notebooks the lake refused
_EXPORT = threading.Lock()  # one exporter, used by one thread at a time

# Stands in for the HTML of a notebook nbconvert could not render; the notebook sits beside it in the folder.
RENDERING_FAILED_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{prcs_nm}: no HTML rendering</title></head>
<body><h1>{prcs_nm}: no HTML rendering</h1>
<p>{problem}.</p>
<p>The run is not affected and its executed notebook is stored beside this page:
<a href="{href}">{notebook}</a> (open it in Jupyter).</p></body></html>
"""


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


def output_location(context: RunContext) -> str | None:
    """The lake location of the attempt's run folder, as store_outputs returns it: what its RUNNING row records.

    Recorded from the start, so the UI links the row while it runs, and still does if the final write is lost
    after the outputs were stored. None when the lake cannot even be opened (LLF_LAKE_URL wrong): no location
    is claimed for outputs that cannot get there, and storing them fails later with the lake's own error,
    which the FAILED row's message then names (see keep_unstored).
    """
    try:
        return open_lake().location(run_folder(context) + "/")
    except LlfError as error:  # ConfigurationError: the lake URL; LakePathError: a key no lake takes
        log.warning("%s: no output location recorded for the attempt, the lake cannot be opened: %s",
                    context.prcs_nm, error)
        return None


def store_outputs(context: RunContext, executed: Path) -> str:
    """Put the executed notebook and its HTML rendering in the lake; return the folder's location.

    The notebook goes first: whatever the rendering does, the record of the attempt is stored. A rendering
    error is no lake error (see _rendered); only the lake's own errors leave this function.
    """
    folder = run_folder(context)
    lake = open_lake()
    notebook = notebook_key(folder, context.prcs_nm)
    lake.put(notebook, executed)
    lake.put(html_key(folder, context.prcs_nm), _rendered(executed, context.prcs_nm, PurePosixPath(notebook).name))
    return lake.location(folder + "/")


def _rendered(executed: Path, prcs_nm: str, notebook_name: str) -> str:
    """The notebook's HTML; when nbconvert cannot render it, a page saying why and linking the stored notebook.

    A kernel can publish outputs nbconvert's templates choke on (metadata of an unexpected type, say). The
    notebook ran and is stored, so the attempt's outcome stands: the failure is told where the HTML is read
    (the UI's link opens this page) and in the worker's log, not as a lake failure.
    """
    try:
        with _EXPORT:
            rendered, _ = _html_exporter().from_filename(str(executed))
        return rendered
    except Exception as error:  # noqa: BLE001 - any nbconvert error: the stored notebook is the record
        problem = f"the HTML rendering failed: {type(error).__name__}: {error}"
        log.warning("%s: %s; the executed notebook is stored, a page saying so stands for its HTML", prcs_nm,
                    problem)
        return RENDERING_FAILED_PAGE.format(prcs_nm=html.escape(prcs_nm), problem=html.escape(problem),
                                            href=html.escape(quote(notebook_name)), notebook=html.escape(notebook_name))


def outputs_stored(output_path: str, prcs_nm: str) -> bool:
    """Whether the lake holds the executed notebook of an attempt at its recorded location: what a sweep asks
    before keeping a dead attempt's location (llf.control.log). True when it cannot tell (a location of another
    lake, a lake that cannot be read now): a link is dropped only when the notebook is known to be missing."""
    try:
        lake = open_lake()
        folder = lake.key_of(output_path)
        return folder is None or lake.exists(notebook_key(folder, prcs_nm))
    except Exception as error:  # noqa: BLE001 - an unreadable lake must not stop a sweep; the location stays
        log.warning("could not check the lake for the outputs at %s (%s); the location is kept", output_path,
                    one_line(error))
        return True


def keep_unstored(context: RunContext, executed: Path, lake_error: Exception) -> str:
    """Keep an executed notebook the lake refused; return the FAILED message naming the lake, the host and the copy.

    The copy goes to <LLF_STATE_DIR>/unstored-outputs/<the attempt's lake folder>/ on this worker, one per
    try as in the lake (a retry's copy never replaces the failed try's): not beside the run in the lake,
    which is what just failed, and not in the scratch folder, deleted when the run ends. The state dir is
    llf's own folder on the worker ($AIRFLOW_HOME/llf by default), and the path mirrors the lake's, so the
    file can be copied to its place in the lake once the lake is fixed. With several workers, or throwaway
    ones, a path alone does not say where to look, so the message names the host too: the name the log row's
    hostname column records (llf.control.log), and a warning that the copy goes with that host.
    """
    problem = f"could not store the output notebook in the lake (check LLF_LAKE_URL): {str(lake_error).rstrip('.')}"
    host = context.worker_host
    kept = state_dir() / UNSTORED / notebook_key(run_folder(context), context.prcs_nm)
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(executed, kept)
    except OSError as keep_error:
        return f"{problem}; the executed notebook could not be kept on the worker {host} either ({keep_error})"
    return (f"{problem}; the executed notebook is kept on the worker {host} at {kept.resolve()} "
            "(that host's own disk: copy it to the lake before the worker is replaced)")
