"""Output notebooks are served from the lake's runs/ folder only, as sandboxed documents, from either lake.

MinIO outputs are streamed through the app (moto's S3 on a socket stands in for MinIO), never a redirect to a
presigned URL: the browser could not resolve the MinIO host, and MinIO would not sandbox the HTML.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from llf.services.lake.s3 import MinioLake

KEY = "runs/sales/extract/2026-05-01/run-1/extract.html"


@pytest.fixture
def lake_with_output(lake_dir: Path) -> Path:
    target = lake_dir / KEY
    target.parent.mkdir(parents=True)
    target.write_text("<html><body><h1>extract output</h1></body></html>")
    (lake_dir / "secret.txt").write_text("lake secret")
    (lake_dir.parent / "outside.txt").write_text("machine secret")
    (lake_dir / "runs/link").symlink_to(lake_dir.parent)
    return lake_dir


def test_given_an_output_in_the_lake_when_requested_then_it_is_served_sandboxed(
    client: TestClient, lake_with_output
):
    response = client.get(f"/llf/outputs/{KEY}")

    assert response.status_code == 200
    assert "extract output" in response.text
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", [
    "runs/../secret.txt",
    "runs/%2e%2e/secret.txt",
    "runs/..%2F..%2Foutside.txt",
    "%2Fetc%2Fpasswd",
    "secret.txt",
    "runs/link/outside.txt",
])
def test_given_a_path_leaving_runs_when_requested_then_it_is_refused(client: TestClient, lake_with_output,
                                                                     path: str):
    response = client.get(f"/llf/outputs/{path}")

    assert response.status_code == 400
    assert "lake secret" not in response.text and "machine secret" not in response.text


def test_given_a_missing_output_when_requested_then_not_found(client: TestClient, lake_with_output):
    assert client.get("/llf/outputs/runs/sales/none.html").status_code == 404


SANDBOX = {"content-security-policy": "sandbox", "x-content-type-options": "nosniff"}


@pytest.fixture
def minio_with_output(minio_lake: MinioLake) -> MinioLake:
    minio_lake.put(KEY, "<html><body><h1>extract output from minio</h1></body></html>")
    minio_lake.put("secret.txt", "lake secret")
    minio_lake.put("other/runs/x.html", "other prefix")
    return minio_lake


def test_given_an_output_in_minio_when_requested_then_the_app_streams_it_sandboxed_without_redirect(
    client: TestClient, minio_with_output
):
    response = client.get(f"/llf/outputs/{KEY}", follow_redirects=False)

    assert response.status_code == 200
    assert "extract output from minio" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert {name: response.headers.get(name) for name in SANDBOX} == SANDBOX
    assert "location" not in response.headers


@pytest.mark.parametrize("path", [
    "runs/../secret.txt",
    "runs/%2e%2e/secret.txt",
    "%2Flake-prefix%2Fsecret.txt",
    "secret.txt",
    "other/runs/x.html",
    "runs/../other/runs/x.html",
])
def test_given_a_minio_path_leaving_runs_when_requested_then_it_is_refused(client: TestClient, minio_with_output,
                                                                           path: str):
    response = client.get(f"/llf/outputs/{path}", follow_redirects=False)

    assert response.status_code == 400
    assert "lake secret" not in response.text and "other prefix" not in response.text


def test_given_a_missing_object_in_minio_when_requested_then_not_found(client: TestClient, minio_with_output):
    assert client.get("/llf/outputs/runs/sales/extract/2026-05-01/run-1/none.html").status_code == 404


def test_given_an_output_larger_than_a_piece_when_served_from_minio_then_it_is_read_in_pieces_and_arrives_whole(
    client: TestClient, minio_lake: MinioLake, monkeypatch
):
    monkeypatch.setattr("llf.ui.routes.outputs.OUTPUT_PIECE_BYTES", 1000)
    body = bytes(range(256)) * 20  # 5120 bytes: six pieces
    minio_lake.put(KEY, body)

    def whole_object_read(*_args, **_kwargs):
        raise AssertionError("the UI must stream outputs, not load them whole")

    monkeypatch.setattr(MinioLake, "get", whole_object_read)

    response = client.get(f"/llf/outputs/{KEY}")

    assert response.status_code == 200 and response.content == body
    assert [len(piece) for piece in minio_lake.stream(KEY, 1000)] == [1000] * 5 + [120]


@pytest.mark.parametrize("path", [
    "runs/sales/extract/2026-05-01/run-1/extract%00.html",
    "runs/sales/extract/2026-05-01/run-1/%00/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "runs/sales/a%0Db.html",
    "runs/sales/a%09b.html",
    "runs/sales/a%7Fb.html",
    "runs/sales/a%C2%85b.html",
])
def test_given_a_key_with_a_nul_or_other_control_character_when_requested_then_a_400_names_it(
    client: TestClient, lake_with_output, path: str
):
    response = client.get(f"/llf/outputs/{path}")

    assert response.status_code == 400
    assert "control character" in response.text
    assert "lake secret" not in response.text


def test_given_a_key_with_a_newline_when_requested_then_no_route_matches_and_it_is_not_found(
    client: TestClient, lake_with_output
):
    response = client.get(f"/llf/outputs/{KEY}%0A")  # a path parameter never spans lines: the router's 404

    assert response.status_code == 404
    assert "extract output" not in response.text
    assert response.headers["cache-control"] == "no-store"


def test_given_a_key_with_a_nul_when_requested_from_minio_then_a_400_names_it(client: TestClient,
                                                                              minio_with_output):
    response = client.get(f"/llf/outputs/{KEY}%00", follow_redirects=False)

    assert response.status_code == 400
    assert "control character" in response.text


@pytest.mark.parametrize(("path", "status"), [
    (KEY, 200),
    ("runs/../secret.txt", 400),
    ("runs/sales/a%00b.html", 400),
    ("runs/sales/none.html", 404),
])
def test_given_any_output_request_when_answered_then_no_cache_may_store_the_answer(
    client: TestClient, lake_with_output, path: str, status: int
):
    response = client.get(f"/llf/outputs/{path}")

    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"


def test_given_an_output_in_minio_when_served_then_no_cache_may_store_it(client: TestClient, minio_with_output):
    response = client.get(f"/llf/outputs/{KEY}")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


def test_given_a_browser_without_login_or_grant_when_an_output_is_requested_then_the_refusal_is_not_stored_either(
    anonymous: TestClient, viewer_of, lake_with_output, registry
):
    registry.stream("sales")  # registered, and not granted to the viewer below
    logged_out = anonymous.get(f"/llf/outputs/{KEY}")
    no_grant = viewer_of().get(f"/llf/outputs/{KEY}")

    assert (logged_out.status_code, no_grant.status_code) == (401, 403)
    for response in (logged_out, no_grant):
        assert response.headers["cache-control"] == "no-store"
