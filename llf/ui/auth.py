"""Airflow's own authentication for the UI app.

Plugin FastAPI apps are mounted in Airflow's api-server but get no auth of their own. Every route of the
app depends on Airflow's `requires_access_dag("GET", RUN)`: the caller must present Airflow's JWT (the `_token`
cookie the Airflow UI sets, or an `Authorization: Bearer` header) and the auth manager must allow them to read
DAG runs - exactly what the page shows. No token: 401; a token without that permission: 403.
"""

from __future__ import annotations

from fastapi import Depends
from fastapi.params import Depends as DependsParam


def airflow_dag_run_reader() -> DependsParam:
    """The dependency that lets through only users Airflow allows to read DAG runs."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return Depends(requires_access_dag("GET", DagAccessEntity.RUN))
