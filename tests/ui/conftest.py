"""UI fixtures: the control-plane app mounted like Airflow mounts it, behind Airflow's real auth manager.

Airflow's auth manager checks every JWT against the `revoked_token` table of the metadata database, so the
tests of this package point Airflow's ORM at a private SQLite file holding that table (created from Airflow's
own model); the previous engine is restored when the package is done.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from llf.ui import MOUNT_PREFIX, create_app

TokenFactory = Callable[[str | None], str]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in tests/ui is a `ui` test."""
    ui_dir = Path(__file__).parent
    for item in items:
        if ui_dir in item.path.parents:
            item.add_marker(pytest.mark.ui)


@pytest.fixture(scope="package")
def airflow_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenFactory]:
    """A factory of Airflow JWTs signed by the configured auth manager (SimpleAuthManager), per role."""
    from airflow import settings
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.revoked_token import RevokedToken

    database = tmp_path_factory.mktemp("airflow-metadata") / "airflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{database}")
        patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(32))
        settings.configure_vars()
        settings.reconfigure_orm()
        RevokedToken.__table__.create(settings.engine, checkfirst=True)
        manager = create_auth_manager()
        yield lambda role: manager.generate_jwt(SimpleAuthManagerUser(username=f"ui-{role}", role=role))
    settings.configure_vars()
    settings.reconfigure_orm()


@pytest.fixture
def anonymous(control_db_url: str, lake_dir: Path, airflow_token: TokenFactory) -> TestClient:
    """A browser without an Airflow login, on an api-server that mounts the app at /llf."""
    server = FastAPI()
    server.mount(MOUNT_PREFIX, create_app())
    return TestClient(server, base_url="http://airflow.test")


@pytest.fixture
def client(anonymous: TestClient, airflow_token: TokenFactory) -> TestClient:
    """A browser logged in to Airflow as a viewer: the `_token` cookie the Airflow UI sets."""
    anonymous.cookies.set("_token", airflow_token("viewer"))
    return anonymous
