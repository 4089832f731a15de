"""The Airflow connections an attempt hands its kernel: those its process registered (cntl_cfg_prcs.conn_ids), and
no other, resolved when the attempt starts, before the kernel does.

The runner runs without Airflow (an import contract), so the lookup is handed in by whoever can make it: the
generated tasks (llf.dagbuild.connections) ask Airflow's Task SDK, which inside a task goes through the
execution API, the way a hook in the task would. A run started elsewhere (a test, a benchmark) has no lookup,
and a process naming connections then fails with that sentence. Nothing here logs or stores a password; the
one text of notebook origin the runner stores, the error of a failed notebook, is cleared of them (hidden).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote

from llf.control.model import conn_ids_problems
from llf.exceptions import LlfError
from llf.secrets import MASK
from llf.services.connections import CONNECTIONS_ENV, Connection, encode
from llf.text import one_line

# conn_id -> the connection as Airflow has it, or None when Airflow has no connection of that id.
ConnectionLookup = Callable[[str], Connection | None]

# Shorter passwords are not masked in texts, as Airflow's own log masker does not: hiding every "abc" in a
# message hides ordinary words, and reveals the password by where the *** fall.
MIN_MASKED_LENGTH = 5


class ConnectionsUnavailable(LlfError):
    """The process's registered connections cannot all be handed over: the attempt ends FAILED before its kernel."""


def resolve(prcs_nm: str, conn_ids: Sequence[str], lookup: ConnectionLookup | None) -> dict[str, Connection]:
    """The registered connections, each as Airflow has it; ConnectionsUnavailable naming the process, the id and
    where to define it when one cannot be had. Ids the database should have refused (a platform connection) are
    refused again here: a dropped constraint must not hand a notebook the owner's URL."""
    problems = conn_ids_problems(conn_ids)
    if problems:
        raise ConnectionsUnavailable(f"process {prcs_nm}: cntl_cfg_prcs.conn_ids is refused ({problems[0]}); "
                                     "the notebook was not started")
    if conn_ids and lookup is None:
        raise ConnectionsUnavailable(
            f"process {prcs_nm} names the Airflow connections {', '.join(conn_ids)} (cntl_cfg_prcs.conn_ids), and "
            "only an Airflow task can read them: run it through its DAG; the notebook was not started")
    resolved: dict[str, Connection] = {}
    for conn_id in conn_ids:
        assert lookup is not None  # refused above when connections are named
        try:
            found = lookup(conn_id)
        except Exception as error:  # noqa: BLE001 - any failure to read it ends the attempt with its reason
            raise ConnectionsUnavailable(
                f"process {prcs_nm}: the Airflow connection {conn_id!r} could not be read "
                f"({type(error).__name__}: {one_line(str(error), 200)}); the notebook was not started") from None
        if found is None:
            raise ConnectionsUnavailable(missing(prcs_nm, conn_id))
        resolved[conn_id] = found
    return resolved


def missing(prcs_nm: str, conn_id: str) -> str:
    """The sentence of an attempt whose registered connection Airflow does not have."""
    return (f"process {prcs_nm} needs the Airflow connection {conn_id!r} (cntl_cfg_prcs.conn_ids), and Airflow has "
            f"none of that id: define it in the Airflow UI (Admin → Connections), as AIRFLOW_CONN_{conn_id.upper()} "
            "in the workers' environment, or in the secrets backend; the notebook was not started")


def kernel_variables(connections: Mapping[str, Connection]) -> dict[str, str]:
    """What the kernel's environment gets for them (through kernel_env's `extra`, never its allowlist)."""
    return {CONNECTIONS_ENV: encode(connections)} if connections else {}


def hidden(text: str | None, connections: Mapping[str, Connection]) -> str | None:
    """`text` with the connections' passwords (as written, and as a URI writes them) and URIs replaced by ***."""
    if not text:
        return text
    for connection in connections.values():
        if not connection.password:
            continue  # its URI holds no secret then, only what the notebook may show
        for secret in (connection.uri, connection.password, quote(connection.password, safe="")):
            if secret and len(secret) >= MIN_MASKED_LENGTH:
                text = text.replace(secret, MASK)
    return text
