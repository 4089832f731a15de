"""Per-DAG access under the real FAB auth manager (apache-airflow-providers-fab), configured as a deployment
configures it: `[core] auth_manager = airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager`, its
`ab_*` tables in the metadata database, users and roles as FAB stores them (tests/support/fab_auth.py).

FAB answers a GET without a DAG id with "may list DAGs", true for any user holding `can_read` on one
`DAG:<id>`; only the global `DAGs` permission reads every DAG, the run log of streams no longer registered
included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.counting_auth_manager import counting_auth_manager
from tests.support.fab_auth import FAB_AUTH_MANAGER, add_fab_user, create_fab_tables, dag_resource
from tests.ui.two_streams import A_OUTPUT, B_ALONE_OUTPUT, B_OUTPUT, B_SECRETS, REGISTERED_DAG_IDS

# What Airflow's Viewer role holds besides the DAGs: the control plane's gate asks for DAG runs.
VIEWER_ENTITIES = ["DAG Runs", "Task Instances"]
GONE_OUTPUT = "runs/gone/old_process/2026-05-01/run-gone/old_process.html"


@pytest.fixture(scope="module")
def fab_token(airflow_token) -> Iterator[Callable[[list[str]], str]]:
    """`fab_token(resources)`: an Airflow JWT of a new FAB user whose role reads those resources only."""
    from airflow import settings
    from airflow.api_fastapi.app import _AuthManagerState, create_auth_manager

    previous_manager = _AuthManagerState.instance
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__CORE__AUTH_MANAGER", FAB_AUTH_MANAGER)
        create_fab_tables(settings.engine)
        manager = create_auth_manager()
        assert type(manager).__module__ + "." + type(manager).__name__ == FAB_AUTH_MANAGER

        def token(resources: list[str]) -> str:
            with settings.Session() as session:
                return manager.generate_jwt(add_fab_user(session, resources))

        yield token
    _AuthManagerState.instance = previous_manager


@pytest.fixture
def fab_reader_of(anonymous: TestClient, fab_token) -> Callable[..., TestClient]:
    """`fab_reader_of(*resources)`: the browser, logged in as a FAB user reading those resources and DAG runs."""

    def login(*resources: str) -> TestClient:
        anonymous.cookies.set("_token", fab_token([*VIEWER_ENTITIES, *resources]))
        return anonymous

    return login


def test_given_a_fab_user_reading_dag_stream_a_only_when_the_overview_is_read_then_only_stream_a_is_listed(
    fab_reader_of, two_streams
):
    browser = fab_reader_of(dag_resource("stream__a"))

    streams = browser.get("/llf/api/streams").raise_for_status().json()
    overview = browser.get("/llf/").raise_for_status().text

    assert [s["strem_nm"] for s in streams] == ["a"]
    assert 'id="stream-a"' in overview and 'id="stream-b"' not in overview
    assert not any(secret in overview for secret in B_SECRETS)


@pytest.mark.parametrize("path, params", [
    ("/llf/api/streams", {"stream": "b"}),
    ("/llf/api/timeline", {"stream": "b", "run_id": "run-b"}),
    ("/llf/", {"stream": "b"}),
    ("/llf/log", {"stream": "b"}),
    (f"/llf/outputs/{B_OUTPUT}", {}),
    (f"/llf/outputs/{B_ALONE_OUTPUT}", {}),
])
def test_given_a_fab_user_reading_dag_stream_a_only_when_stream_b_is_asked_for_then_not_found(
    fab_reader_of, two_streams, path: str, params: dict
):
    response = fab_reader_of(dag_resource("stream__a")).get(path, params=params)

    assert response.status_code == 404
    assert not any(secret in response.text for secret in B_SECRETS) and "output of b_feed" not in response.text


def test_given_a_fab_user_reading_dag_stream_a_when_its_output_is_asked_for_then_it_is_served(
    fab_reader_of, two_streams
):
    browser = fab_reader_of(dag_resource("stream__a"))

    assert "output of a_extract" in browser.get(f"/llf/outputs/{A_OUTPUT}").raise_for_status().text


def test_given_a_fab_user_with_the_global_dags_permission_when_read_then_everything_shows_unregistered_too(
    fab_reader_of, two_streams, lake_dir: Path
):
    gone = lake_dir / GONE_OUTPUT
    gone.parent.mkdir(parents=True)
    gone.write_text("output of a stream no longer registered")
    browser = fab_reader_of("DAGs")

    streams = browser.get("/llf/api/streams").raise_for_status().json()

    assert [s["strem_nm"] for s in streams] == ["a", "b"]
    assert "output of b_feed" in browser.get(f"/llf/outputs/{B_ALONE_OUTPUT}").raise_for_status().text
    assert "no longer registered" in browser.get(f"/llf/outputs/{GONE_OUTPUT}").raise_for_status().text
    assert fab_reader_of(dag_resource("stream__a")).get(f"/llf/outputs/{GONE_OUTPUT}").status_code == 404


def test_given_a_fab_user_reading_no_llf_dag_when_the_overview_is_requested_then_it_is_forbidden(
    fab_reader_of, two_streams
):
    response = fab_reader_of(dag_resource("some_other_dag")).get("/llf/api/streams")

    assert response.status_code == 403


def test_given_a_fab_per_dag_user_when_a_page_is_read_then_fab_is_asked_once_for_every_registered_dag(
    fab_reader_of, two_streams
):
    browser = fab_reader_of(dag_resource("stream__a"))

    with counting_auth_manager() as manager:
        browser.get("/llf/").raise_for_status()

    [batch] = manager.named("filter_authorized_dag_ids")
    assert batch.kwargs["dag_ids"] == REGISTERED_DAG_IDS
    assert [call.dag_id for call in manager.named("is_authorized_dag") if call.dag_id] == []
