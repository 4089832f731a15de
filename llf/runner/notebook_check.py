"""The sentence an attempt fails with when this worker cannot run its notebook.

A task's parse builds its DAG from the registrations alone (llf.dagbuild.catalog, Catalog.for_task), so
the notebook is checked here, right before it runs, on the host that runs it: with several workers, a file
missing or older on one of them is that worker's problem, and the sentence must say which host and which
folder it looked in, and the setting that names the folder, or the reader looks on the wrong machine.
"""

from __future__ import annotations

from llf.context import RunContext
from llf.settings import NOTEBOOKS_DIR, notebooks_dir


def rejected_here(rejected: Exception, context: RunContext) -> str:
    """The FAILED message for a notebook rejected by llf.runner.notebook.resolve on this worker."""
    return (f"NotebookRejected: {rejected}; checked on the worker {context.worker_host}, whose notebooks folder "
            f"is {notebooks_dir()} ({NOTEBOOKS_DIR.name}): every worker needs the notebooks the dag-processor "
            "parses (the same image, volume or DAG bundle)")
