"""Per-DAG access: a user sees only the streams and processes whose Airflow DAGs they may read.

Streams `a` and `b` (tests/ui/two_streams.py). Users get read on some DAGs only, through a real Airflow auth
manager with Keycloak's per-DAG semantics (tests/support/per_dag_auth_manager.py: a request without a DAG id is
authorized for every per-DAG user, so no shortcut may read it as "every DAG"). Another stream is a 404, never a
403: the answer does not tell that it exists. tests/ui/test_fab_access.py does the same with the real FAB.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.counting_auth_manager import counting_auth_manager
from tests.ui.two_streams import A_OUTPUT, B_ALONE_OUTPUT, B_OUTPUT, B_SECRETS, REGISTERED_DAG_IDS


def _messages(browser: TestClient, **params) -> list[str]:
    return [row["message"] for row in browser.get("/llf/api/log", params=params).raise_for_status().json()["rows"]]


def test_given_a_user_allowed_on_stream_a_when_the_api_is_read_then_only_stream_a_is_in_it(viewer_of, two_streams):
    browser = viewer_of("stream__a")

    streams = browser.get("/llf/api/streams").raise_for_status().json()
    runs = browser.get("/llf/api/stream-runs").raise_for_status().json()
    timeline = browser.get("/llf/api/timeline", params={"stream": "a", "run_id": "run-a"})

    assert [s["strem_nm"] for s in streams] == ["a"]
    assert sorted(_messages(browser)) == ["a extract message", "a stream done"]
    assert [r["strem_nm"] for r in runs] == ["a"]
    assert timeline.status_code == 200
    assert [p["prcs_nm"] for g in streams[0]["groups"] for p in g["processes"]] == ["a_extract", "a_clean"]


@pytest.mark.parametrize("path, params", [
    ("/llf/api/streams", {"stream": "b"}),
    ("/llf/api/log", {"stream": "b"}),
    ("/llf/api/stream-runs", {"stream": "b"}),
    ("/llf/api/timeline", {"stream": "b", "run_id": "run-b"}),
    ("/llf/", {"stream": "b"}),
    ("/llf/log", {"stream": "b"}),
    ("/llf/timeline", {"stream": "b", "run_id": "run-b"}),
    ("/llf/timeline", {"stream": "nowhere", "run_id": "run-b"}),
])
def test_given_a_user_allowed_on_stream_a_when_stream_b_is_asked_for_then_not_found_as_if_absent(
    viewer_of, two_streams, path: str, params: dict
):
    response = viewer_of("stream__a").get(path, params=params)

    assert response.status_code == 404
    assert not any(secret in response.text for secret in B_SECRETS)


def test_given_a_user_allowed_on_stream_a_when_the_pages_are_rendered_then_nothing_of_stream_b_shows(
    viewer_of, two_streams
):
    browser = viewer_of("stream__a")

    overview = browser.get("/llf/").raise_for_status().text
    log_page = browser.get("/llf/log").raise_for_status().text

    assert 'id="stream-a"' in overview and 'id="stream-b"' not in overview
    assert '<option value="b"' not in overview and "timeline?stream=b" not in overview
    assert "another stream" in overview and "stream b" not in overview  # a_clean's outside dependency
    assert "a extract message" in log_page
    for page in (overview, log_page):
        assert not any(secret in page for secret in B_SECRETS)
        assert B_OUTPUT not in page and B_ALONE_OUTPUT not in page


def test_given_a_user_allowed_on_stream_a_when_outputs_are_requested_then_only_stream_a_outputs_are_served(
    viewer_of, two_streams
):
    browser = viewer_of("stream__a")

    assert "output of a_extract" in browser.get(f"/llf/outputs/{A_OUTPUT}").raise_for_status().text
    for key in (B_OUTPUT, B_ALONE_OUTPUT, "runs/b/b_feed/2026-05-01/nothing/here.html"):
        response = browser.get(f"/llf/outputs/{key}")
        assert response.status_code == 404
        assert "output of b_feed" not in response.text


def test_given_a_user_allowed_on_one_process_dag_when_read_then_only_its_rows_and_outputs_show(
    viewer_of, two_streams
):
    browser = viewer_of("process__b_feed")

    assert sorted(_messages(browser)) == ["b alone secret", "b secret message"]
    assert browser.get("/llf/api/streams").raise_for_status().json() == []
    assert browser.get("/llf/api/stream-runs").raise_for_status().json() == []
    assert browser.get("/llf/api/streams", params={"stream": "b"}).status_code == 404
    for key in (B_OUTPUT, B_ALONE_OUTPUT):
        assert "output of b_feed" in browser.get(f"/llf/outputs/{key}").raise_for_status().text
    assert browser.get(f"/llf/outputs/{A_OUTPUT}").status_code == 404


def test_given_a_user_allowed_on_stream_b_when_its_process_ran_on_its_own_then_that_output_is_served_too(
    viewer_of, two_streams
):
    browser = viewer_of("stream__b")

    assert "output of b_feed" in browser.get(f"/llf/outputs/{B_ALONE_OUTPUT}").raise_for_status().text
    assert "b alone secret" in _messages(browser)
    assert browser.get(f"/llf/outputs/{A_OUTPUT}").status_code == 404


@pytest.mark.parametrize("dags", [[], ["some_other_dag"]])
@pytest.mark.parametrize("path", ["/llf/", "/llf/log", "/llf/api/streams", "/llf/api/log", "/llf/api/stream-runs",
                                  f"/llf/outputs/{A_OUTPUT}"])
def test_given_a_user_allowed_on_no_llf_dag_when_anything_is_requested_then_it_is_forbidden(
    viewer_of, two_streams, dags: list[str], path: str
):
    response = viewer_of(*dags).get(path)

    assert response.status_code == 403
    assert "a extract message" not in response.text and "output of" not in response.text


def test_given_a_per_dag_user_the_manager_authorizes_without_a_dag_id_when_read_then_no_shortcut_shows_stream_b(
    viewer_of, two_streams
):
    from airflow.api_fastapi.app import get_auth_manager

    from tests.support.per_dag_auth_manager import PerDagUser

    browser = viewer_of("stream__a")
    user = PerDagUser(username="ui-viewer", role="viewer", dags=["stream__a"])

    assert get_auth_manager().is_authorized_dag(method="GET", user=user)  # "may list DAGs", as Keycloak says
    assert [s["strem_nm"] for s in browser.get("/llf/api/streams").raise_for_status().json()] == ["a"]
    assert "b stream secret" not in browser.get("/llf/api/stream-runs").text


def test_given_a_viewer_of_every_dag_under_a_manager_llf_does_not_know_when_read_then_each_registered_stream_shows(
    anonymous: TestClient, airflow_token, two_streams
):
    anonymous.cookies.set("_token", airflow_token("viewer"))  # no `dags`: SimpleAuthManager's viewer, per DAG

    streams = anonymous.get("/llf/api/streams").raise_for_status().json()

    assert [s["strem_nm"] for s in streams] == ["a", "b"]
    assert sorted(_messages(anonymous)) == ["a extract message", "a stream done", "b alone secret",
                                            "b secret message", "b stream secret"]


@pytest.mark.parametrize("path", ["/llf/", "/llf/log", "/llf/api/streams", "/llf/api/log", f"/llf/outputs/{A_OUTPUT}"])
def test_given_a_per_dag_user_when_a_page_is_read_then_the_auth_manager_is_asked_once_for_every_registered_dag(
    viewer_of, two_streams, path: str
):
    browser = viewer_of("stream__a")

    with counting_auth_manager() as manager:
        browser.get(path).raise_for_status()

    [batch] = manager.named("filter_authorized_dag_ids")
    assert batch.kwargs["dag_ids"] == REGISTERED_DAG_IDS
    assert [call.dag_id for call in manager.named("is_authorized_dag") if call.dag_id] == []
    assert manager.named("get_authorized_dag_ids") == []


@pytest.mark.parametrize("path", ["/llf/api/openapi.json", "/llf/openapi.json", "/llf/docs", "/llf/redoc",
                                  "/llf/api/docs"])
def test_given_any_browser_when_the_api_schema_or_docs_are_requested_then_they_are_not_served(
    anonymous: TestClient, airflow_token, path: str
):
    logged_out = anonymous.get(path)
    logged_in = anonymous.get(path, headers={"Authorization": f"Bearer {airflow_token('viewer')}"})

    for response in (logged_out, logged_in):
        assert response.status_code == 404
        assert "openapi" not in response.text.lower() and "/api/streams" not in response.text


@pytest.mark.parametrize("dags", [None, ["stream__a"]])
@pytest.mark.parametrize("path", ["/llf/", "/llf/api/log"])
def test_given_an_unreachable_control_database_when_a_page_is_requested_then_the_error_names_no_host_db_or_user(
    anonymous: TestClient, airflow_token, monkeypatch, dags, path: str
):
    monkeypatch.setenv("LLF_UI_DB_URL", "postgresql://secret_db_user:secret_pw@127.0.0.1:9/secret_db_name")
    anonymous.cookies.set("_token", airflow_token("viewer", dags))

    response = anonymous.get(path)

    assert response.status_code == 503
    assert "cannot show this page" in response.text
    for detail in ("secret_db_user", "secret_pw", "127.0.0.1", "secret_db_name", "postgresql://"):
        assert detail not in response.text
