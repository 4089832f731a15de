"""An Airflow auth manager with per-DAG read grants, for the UI tests: Airflow's SimpleAuthManager plus the
per-DAG semantics of Keycloak's auth manager (and of FAB's since provider 3.x).

Configured through Airflow's own integration point (`[core] auth_manager`). A user whose JWT carries `dags`
(a list of DAG ids) holds read on those DAGs only:

* a DAG id in `dags`: readable; any other DAG id: not;
* no DAG id (with or without an access entity such as "DAG runs"): yes. Keycloak maps a DAG request without
  an id to `Dag#LIST`, which every per-DAG user holds, and FAB answers "may list DAGs" the same way. So "no
  DAG id authorized" does not mean "reads every DAG" here: the case the UI must not take as a shortcut;
* anything but GET: no.

A user without `dags` is SimpleAuthManager's, unchanged (a viewer reads every DAG). The class is not
SimpleAuthManager itself, so llf.ui.auth treats it as an auth manager it does not know: it asks per DAG.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

DOTTED_PATH = f"{__name__}.PerDagAuthManager"


class PerDagUser(SimpleAuthManagerUser):
    """A SimpleAuthManager user, optionally limited to reading the DAGs in `dags`."""

    def __init__(self, *, username: str, role: str | None, dags: list[str] | None = None,
                 teams: list[str] | None = None) -> None:
        super().__init__(username=username, role=role, teams=teams)
        self.dags = dags


class PerDagAuthManager(SimpleAuthManager):
    """SimpleAuthManager whose users may be granted read on some DAGs only (see module doc)."""

    def serialize_user(self, user: SimpleAuthManagerUser) -> dict[str, Any]:
        return {**super().serialize_user(user), "dags": getattr(user, "dags", None)}

    def deserialize_user(self, token: dict[str, Any]) -> PerDagUser:
        return PerDagUser(username=token["sub"], role=token["role"], dags=token.get("dags"),
                          teams=token.get("teams"))

    def is_authorized_dag(self, *, method: str, user: SimpleAuthManagerUser,
                          access_entity: DagAccessEntity | None = None, details: DagDetails | None = None) -> bool:
        dags = getattr(user, "dags", None)
        if dags is None:
            return super().is_authorized_dag(method=method, user=user, access_entity=access_entity,
                                              details=details)
        if method != "GET":
            return False
        if details is not None and details.id:
            return details.id in dags
        return True
