"""UI fixtures: the control-plane app mounted like Airflow mounts it, behind a real Airflow auth manager.

The auth manager is configured through `[core] auth_manager`, as in a deployment: SimpleAuthManager with
Keycloak-like per-DAG grants (tests/support/per_dag_auth_manager.py), Airflow's SimpleAuthManager itself for
`client`, the real FAB in test_fab_access.py. Airflow checks every JWT against the
`revoked_token` table of the metadata database, so the tests of this package point Airflow's ORM at a private
SQLite file holding that table (created from Airflow's own model); the previous engine and auth manager are
restored when the package is done. Outputs on MinIO are served from moto's S3 on a real socket.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from llf.services.lake import open_lake
from llf.services.lake.s3 import MinioLake
from llf.ui import MOUNT_PREFIX, create_app
from tests.support.per_dag_auth_manager import DOTTED_PATH, PerDagUser
from tests.ui.two_streams import build_two_streams


class TokenFactory(Protocol):
    def __call__(self, role: str | None, dags: list[str] | None = None) -> str:
        """An Airflow JWT for a user of `role`, allowed to read only `dags` when given (else every DAG)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in tests/ui is a `ui` test."""
    ui_dir = Path(__file__).parent
    for item in items:
        if ui_dir in item.path.parents:
            item.add_marker(pytest.mark.ui)


@pytest.fixture(scope="package")
def airflow_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenFactory]:
    """A factory of Airflow JWTs signed by the configured auth manager, per role and DAG grants."""
    from airflow import settings
    from airflow.api_fastapi.app import _AuthManagerState, create_auth_manager
    from airflow.models.revoked_token import RevokedToken

    database = tmp_path_factory.mktemp("airflow-metadata") / "airflow.db"
    previous_manager = _AuthManagerState.instance
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{database}")
        patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(32))
        patch.setenv("AIRFLOW__CORE__AUTH_MANAGER", DOTTED_PATH)
        settings.configure_vars()
        settings.reconfigure_orm()
        RevokedToken.__table__.create(settings.engine, checkfirst=True)
        manager = create_auth_manager()

        def token(role: str | None, dags: list[str] | None = None) -> str:
            return manager.generate_jwt(PerDagUser(username=f"ui-{role}", role=role, dags=dags))

        yield token
    _AuthManagerState.instance = previous_manager
    settings.configure_vars()
    settings.reconfigure_orm()


@pytest.fixture
def anonymous(control_db_url: str, lake_dir: Path, airflow_token: TokenFactory) -> TestClient:
    """A browser without an Airflow login, on an api-server that mounts the app at /llf."""
    server = FastAPI()
    server.mount(MOUNT_PREFIX, create_app())
    return TestClient(server, base_url="http://airflow.test")


@pytest.fixture
def client(anonymous: TestClient, airflow_token: TokenFactory, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """A browser logged in to Airflow as a viewer (the `_token` cookie the Airflow UI sets), under Airflow's own
    SimpleAuthManager, as docker-compose.yml configures it: a viewer there reads every DAG, registered or not."""
    from airflow.api_fastapi.app import _AuthManagerState
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", f"{SimpleAuthManager.__module__}.SimpleAuthManager")
    monkeypatch.setattr(_AuthManagerState, "instance", SimpleAuthManager())
    anonymous.cookies.set("_token", airflow_token("viewer"))
    return anonymous


@pytest.fixture
def viewer_of(anonymous: TestClient, airflow_token: TokenFactory) -> Callable[..., TestClient]:
    """`viewer_of(*dag_ids)`: the browser, logged in as a viewer allowed to read those DAGs only."""

    def login(*dag_ids: str) -> TestClient:
        anonymous.cookies.set("_token", airflow_token("viewer", list(dag_ids)))
        return anonymous

    return login


@pytest.fixture
def two_streams(registry, control_db_url: str, lake_dir: Path) -> None:
    """Streams a and b registered, with runs, log rows and outputs (tests/ui/two_streams.py)."""
    build_two_streams(registry, control_db_url, lake_dir)


@pytest.fixture
def minio_lake(lake_dir: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> MinioLake:
    """A MinIO lake in a fresh bucket of the S3 stand-in, configured as the UI's lake (LLF_LAKE_URL...)."""
    monkeypatch.setenv("LLF_LAKE_URL", f"s3://ui-{uuid.uuid4().hex[:12]}/lake-prefix")
    monkeypatch.setenv("LLF_MINIO_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("LLF_MINIO_ACCESS_KEY", "testing")
    monkeypatch.setenv("LLF_MINIO_SECRET_KEY", "testing-secret")
    monkeypatch.delenv("LLF_MINIO_SECURE", raising=False)
    lake = open_lake()
    assert isinstance(lake, MinioLake)
    return lake
