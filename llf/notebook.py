"""The notebook SDK: `from llf import notebook as nb`, then nb.context(), nb.log(), nb.llm(), nb.vectors(),
nb.lake(), nb.connection().

Every service is configured by environment variables (set by the runner or the user), so the same notebook
runs under Airflow, under papermill in a test, or in plain Jupyter.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llf.context import RUN_CONTEXT_ENV, RunContext, current_run_context
from llf.exceptions import ConfigurationError
from llf.services.control_store import control_store

if TYPE_CHECKING:
    from llf.services.connections import Connection
    from llf.services.lake import Lake
    from llf.services.llm import LlmClient
    from llf.services.vectors import VectorStore

# Jupyter names the notebook a kernel was started for (jupyter_server's sessions; ipykernel's __session__).
JUPYTER_NOTEBOOK_ENV = "JPY_SESSION_NAME"
# The run-context values the runner injects into a notebook that declares them (not registered params).
RUN_CONTEXT_PARAMETERS = frozenset({"strem_nm", "prcs_nm", "business_date", "run_id", "output_path", "full_rerun"})

__all__ = ["connection", "context", "lake", "llm", "log", "sql", "vectors"]


def context() -> RunContext:
    """The run context the runner put in LLF_RUN_CONTEXT. Outside a run an 'interactive' one: in Jupyter (which
    names the kernel's notebook in JPY_SESSION_NAME) with the defaults of the notebook's parameters cell as saved,
    its `business_date` among them, so the notebook is tried as it will run; elsewhere for today."""
    notebook = os.environ.get(JUPYTER_NOTEBOOK_ENV)
    if os.environ.get(RUN_CONTEXT_ENV) or not notebook:
        return current_run_context()
    defaults = _parameter_defaults(Path(notebook))
    date = defaults.pop("business_date", None)
    params = {name: value for name, value in defaults.items() if name not in RUN_CONTEXT_PARAMETERS}
    interactive = current_run_context()
    try:
        business_date = dt.date.fromisoformat(date) if isinstance(date, str) else interactive.business_date
    except ValueError:
        business_date = interactive.business_date
    return interactive.model_copy(update={"business_date": business_date, "params": params})


def _parameter_defaults(notebook: Path) -> dict[str, Any]:
    """The literal defaults of the notebook's parameters cell as saved (llf.control.notebooks); none when the
    file cannot be read."""
    from llf.control.notebooks import parameter_defaults

    try:
        return parameter_defaults(json.loads(notebook.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def log(message: str) -> None:
    """Print a progress line and, in a run, record it against the run in the control DB. Outside one (Jupyter)
    there is no run to file it under, and the notebook login may write only its attempt's rows: print only."""
    run = context()
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {run.prcs_nm}: {message}", flush=True)
    store = control_store()
    if store is not None and os.environ.get(RUN_CONTEXT_ENV):
        store.record_progress(run, message)


def sql(statement: str, parameters: tuple | dict | None = None) -> list[tuple]:
    """Run one parameterised statement on the control DB (results tables such as llf_results.*); rows if any.

    Pass values as `parameters` (%s placeholders), never formatted into `statement`.
    """
    store = control_store()
    if store is None:
        raise ConfigurationError("nb.sql needs the control database: set LLF_CONTROL_DB_URL.")
    return store.execute(statement, parameters)


def llm(model: str | None = None, provider: str | None = None) -> LlmClient:
    """The LLM client (provider LLF_LLM_PROVIDER, default ollama; model LLF_LLM_MODEL)."""
    from llf.services.llm import open_llm

    return open_llm(model=model, provider=provider)


def vectors(collection: str) -> VectorStore:
    """The collection `collection` in the store of LLF_VECTOR_URL (default: pgvector in the control DB)."""
    from llf.services.vectors import open_vectors

    return open_vectors(collection)


def lake() -> Lake:
    """The data lake of LLF_LAKE_URL (default: the folder lake/ of the project); in a run, its stream's part of
    it: every key below streams/<stream>/ of its process's registered stream (llf.services.lake.streams), none
    outside. In plain Jupyter, all of it."""
    from llf.services.lake import open_lake
    from llf.services.lake.streams import StreamLake
    from llf.settings import LAKE_STREAM

    if not os.environ.get(RUN_CONTEXT_ENV):
        return open_lake()
    return StreamLake(open_lake(), LAKE_STREAM.read() or context().strem_nm)


def connection(conn_id: str) -> Connection:
    """The Airflow connection `conn_id` (host, port, login, password, schema, extra, uri), when the process
    registered it in cntl_cfg_prcs.conn_ids; any other name raises ConfigurationError naming those it did.
    The runner resolved it through Airflow when the run started: no other connection or variable is here."""
    from llf.services.connections import registered_connection

    return registered_connection(conn_id)
