"""The Airflow connections a process registered, as its notebook sees them: `nb.connection("crm_db")`.

A notebook kernel is no Airflow task: it cannot ask Airflow for a connection, and the worker's AIRFLOW_CONN_*
variables never reach it (llf.runner.kernel_env). The runner resolves the connections the process registered
(cntl_cfg_prcs.conn_ids), those alone, through Airflow when the attempt starts, and hands them to the kernel
as one JSON object in LLF_CONNECTIONS: {conn_id: {conn_type, host, port, login, password, schema, extra, uri}}.
Here both ends of that transport: the runner writes it (encode), the SDK reads it (registered_connection).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from llf.context import current_run_context
from llf.exceptions import ConfigurationError
from llf.settings import CONNECTIONS

CONNECTIONS_ENV = CONNECTIONS.name


@dataclass(frozen=True)
class Connection:
    """One Airflow connection as the notebook gets it: Airflow's fields, `extra` as a dict (Airflow's
    extra_dejson) and `uri` as Airflow writes it (Connection.get_uri). The password and the URI, which holds
    it, are left out of repr(), so printing the connection in a notebook does not put them in its outputs."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    uri: str = field(default="", repr=False)


def encode(connections: Mapping[str, Connection]) -> str:
    """The value of LLF_CONNECTIONS for a kernel getting `connections`."""
    return json.dumps({conn_id: asdict(connection) for conn_id, connection in connections.items()})


def registered_connections() -> dict[str, Connection]:
    """The connections the runner handed this kernel (none outside a run, or when the process registered none)."""
    text = CONNECTIONS.read()
    if not text:
        return {}
    try:
        return {conn_id: Connection(**values) for conn_id, values in json.loads(text).items()}
    except (ValueError, TypeError, AttributeError) as error:
        raise ConfigurationError(f"{CONNECTIONS_ENV} is not what the runner writes ({type(error).__name__}); "
                                 "it is set by the runner for a notebook kernel, never by hand") from None


def registered_connection(conn_id: str) -> Connection:
    """The connection `conn_id`, when the process registered it; else a ConfigurationError naming the ones it
    registered and where to add this one."""
    connections = registered_connections()
    if conn_id in connections:
        return connections[conn_id]
    process = current_run_context().prcs_nm
    registered = ", ".join(sorted(connections)) or "none"
    raise ConfigurationError(
        f"connection {conn_id!r} is not registered for process {process} (it registered: {registered}). A notebook "
        "gets only the Airflow connections its process names: add it to cntl_af.cntl_cfg_prcs.conn_ids (`connections:` "
        "of the process in its stream file, then `llf sync`); it is handed over when the process runs, not in "
        "plain Jupyter."
    )
