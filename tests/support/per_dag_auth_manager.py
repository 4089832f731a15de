"""An Airflow auth manager with per-DAG read grants, for the UI tests: Airflow's SimpleAuthManager plus
FAB's per-DAG semantics.

Configured through Airflow's own integration point (`[core] auth_manager`). A user whose JWT carries `dags`
(a list of DAG ids) is what FAB makes of a role holding `can_read` on `DAG:<id>` for each of them and on the
entity resources (`DAG Runs`, `Task Instances`...), but not on the global `DAGs` resource:

* a DAG id in `dags`: readable; any other DAG id: not;
* no DAG id with an access entity (e.g. "may read DAG runs"): yes, as FAB answers from the entity's global
  permission - the check the control plane relied on alone before it filtered per DAG;
* no DAG id and no entity ("may read every DAG"): no;
* anything but GET: no.

A user without `dags` is SimpleAuthManager's, unchanged (a viewer reads every DAG).
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
        return access_entity is not None
