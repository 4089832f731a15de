"""The control plane is behind Airflow's own login."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

PAGES = ["/llf/", "/llf/log", "/llf/api/streams", "/llf/api/log", "/llf/outputs/runs/s/p/d/r/p.html"]


@pytest.mark.parametrize("path", PAGES)
def test_given_no_airflow_login_when_a_page_is_requested_then_it_is_refused(anonymous: TestClient, path: str):
    response = anonymous.get(path)
    assert response.status_code == 401


def test_given_a_forged_token_when_the_overview_is_requested_then_it_is_refused(anonymous: TestClient):
    anonymous.cookies.set("_token", "not-a-jwt")
    assert anonymous.get("/llf/api/streams").status_code in (401, 403)


def test_given_a_user_without_a_role_when_the_overview_is_requested_then_it_is_forbidden(
    anonymous: TestClient, airflow_token
):
    response = anonymous.get("/llf/api/streams", headers={"Authorization": f"Bearer {airflow_token(None)}"})
    assert response.status_code == 403


def test_given_a_viewer_bearer_token_when_the_overview_is_requested_then_it_is_served(anonymous: TestClient,
                                                                                      airflow_token):
    response = anonymous.get("/llf/api/streams", headers={"Authorization": f"Bearer {airflow_token('viewer')}"})
    assert response.status_code == 200, response.text


def test_given_the_viewer_cookie_when_the_page_is_requested_then_it_is_served(client: TestClient):
    response = client.get("/llf/")
    assert response.status_code == 200, response.text
    assert "LLF control plane" in response.text
