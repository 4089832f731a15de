"""Airflow's own authentication and per-DAG authorization for the UI app.

Plugin FastAPI apps are mounted in Airflow's api-server but get no auth of their own, so the app asks Airflow:

* `airflow_dag_run_reader()`: the caller presents Airflow's JWT (the `_token` cookie the Airflow UI sets, or
  an `Authorization: Bearer` header) and may read DAG runs at all (`requires_access_dag("GET", RUN)`).
  No token: 401; a token without that permission: 403.
* `access_dependency()`: which llf DAGs the auth manager lets the caller read. A stream is what its DAG
  `stream__<s>` is; a process is readable through its own DAG `process__<p>` or through its stream's DAG
  (the stream DAG runs it, so its readers see the process's task logs in Airflow anyway). A caller allowed on
  no llf DAG gets 403. Every page, API route and output filters by the resulting `Access`.

The readable DAGs are always asked of the auth manager in one `filter_authorized_dag_ids` call per request,
over the DAG ids of the registered streams and processes. "Authorized on a DAG without a DAG id" is never taken
to mean "every DAG": FAB (provider 3.x) answers it with "may list DAGs", true for any user holding read on one
`DAG:<id>`, and Keycloak maps it to `Dag#LIST`, which every per-DAG user holds. A caller reads everything (the
run log of streams no longer registered included) only under an auth manager whose own code says so, see
`_reads_every_dag`; in multi-team mode nobody does, and each DAG is asked about with its team, as Airflow's own
routes do.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException
from fastapi.params import Depends as DependsParam

from llf.control.model import process_dag_id, stream_dag_id
from llf.services.lake.runs import run_of

# (strem_nm, prcs_nm) of every registered process, (strem_nm, None) for a stream without any.
Registered = Callable[[], Iterable[tuple[str, str | None]]]

# The auth managers `_reads_every_dag` knows, by the dotted path `[core] auth_manager` names them with.
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


@dataclass(frozen=True)
class Access:
    """What one caller may read: everything, or these streams and processes (those of the streams included)."""

    everything: bool = False
    streams: frozenset[str] = frozenset()
    processes: frozenset[str] = frozenset()

    def stream(self, strem_nm: str) -> bool:
        return self.everything or strem_nm in self.streams

    def output(self, key: str) -> bool:
        """Whether the output at `key` (already confined: runs/<stream>/<process>/<date>/<run>/<file>) is readable.

        A process run on its own stores outside any stream's folder: that run is readable by process only.
        """
        if self.everything:
            return True
        run = run_of(key)
        if run is None:
            return False
        return run.prcs_nm in self.processes or (run.strem_nm is not None and run.strem_nm in self.streams)

    def sql_filters(self) -> dict[str, list[str] | None]:
        """The `streams` / `processes` parameters of the queries in llf.control.queries; None: no restriction."""
        if self.everything:
            return {"streams": None, "processes": None}
        return {"streams": sorted(self.streams), "processes": sorted(self.processes)}


def airflow_dag_run_reader() -> DependsParam:
    """The dependency that lets through only users Airflow allows to read DAG runs."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return Depends(requires_access_dag("GET", DagAccessEntity.RUN))


def access_dependency(registered: Registered) -> Callable[..., Access]:
    """A FastAPI dependency: the `Access` of the logged-in Airflow user, or 403 when they may read no llf DAG.

    `registered` is only called for callers without access to every DAG.
    """
    # No `from __future__ import annotations` in this module: FastAPI reads this annotation as an object.
    from airflow.api_fastapi.core_api.security import GetUserDep

    def access(user: GetUserDep) -> Access:
        return user_access(user, registered)

    return access


def user_access(user: Any, registered: Registered) -> Access:
    """The streams and processes whose DAGs the configured auth manager lets `user` read (see module doc)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.configuration import conf

    manager = get_auth_manager()
    multi_team = conf.getboolean("core", "multi_team", fallback=False)
    if not multi_team and _reads_every_dag(manager, user):
        return Access(everything=True)
    pairs = list(registered())
    candidates = {stream_dag_id(s) for s, _ in pairs} | {process_dag_id(p) for _, p in pairs if p}
    readable = _readable_dag_ids(manager, user, candidates, multi_team)
    streams = frozenset(s for s, _ in pairs if stream_dag_id(s) in readable)
    processes = frozenset(p for s, p in pairs if p and (s in streams or process_dag_id(p) in readable))
    if candidates and not streams and not processes:
        raise HTTPException(403, "Airflow lets you read no llf stream or process DAG.")
    return Access(streams=streams, processes=processes)


def _reads_every_dag(manager: Any, user: Any) -> bool:
    """Whether `user` reads every DAG, asked only of the auth managers known to answer it; False for any other.

    Decided from each manager's own code (Airflow 3.3, FAB provider 3.10), for the exact class only: a subclass
    may grant per DAG (tests/support/per_dag_auth_manager.py does), so it is asked per DAG like any other.

    * SimpleAuthManager: its `is_authorized_dag` looks only at the role (and at the team, never set here
      outside multi-team mode), never at the DAG id, so "authorized without a DAG id" is "authorized on every
      DAG": admin, viewer and the roles between read everything.
    * FabAuthManager: only the global `DAGs` resource reads every DAG (its `_is_authorized_dag` checks it
      first, then `DAG:<id>`). Its `is_authorized_dag` without a DAG id means "may list DAGs", so the
      permission is read from the user's own `perms` (the (action, resource) pairs of its roles) instead.
    """
    kind = _class_path(manager)
    if kind == SIMPLE_AUTH_MANAGER:
        return bool(manager.is_authorized_dag(method="GET", user=user))
    if kind == FAB_AUTH_MANAGER:
        return ("can_read", "DAGs") in (getattr(user, "perms", None) or ())
    return False


def _class_path(manager: Any) -> str:
    """The dotted path of `manager`'s own class, as `[core] auth_manager` names it."""
    kind = type(manager)
    return f"{kind.__module__}.{kind.__qualname__}"


def _readable_dag_ids(manager: Any, user: Any, dag_ids: set[str], multi_team: bool) -> set[str]:
    """`dag_ids` filtered by the auth manager in one call; in multi-team mode one call per team of those DAGs."""
    if not dag_ids:
        return set()
    if not multi_team:
        return set(manager.filter_authorized_dag_ids(dag_ids=dag_ids, user=user, method="GET"))
    from airflow.models.dag import DagModel

    team_of = DagModel.get_dag_id_to_team_name_mapping(sorted(dag_ids))
    by_team: dict[str | None, set[str]] = defaultdict(set)
    for dag_id in dag_ids:
        by_team[team_of.get(dag_id)].add(dag_id)
    return {dag_id for team, ids in by_team.items()
            for dag_id in manager.filter_authorized_dag_ids(dag_ids=ids, user=user, method="GET", team_name=team)}
