"""Output notebooks are served from the lake's runs/ folder only, as sandboxed documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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


def test_given_an_s3_lake_when_an_output_is_requested_then_it_redirects_to_the_presigned_url(
    client: TestClient, monkeypatch
):
    monkeypatch.setenv("LLF_LAKE_URL", "s3://lake/prefix")
    monkeypatch.setenv("LLF_MINIO_ENDPOINT", "127.0.0.1:9")
    monkeypatch.setenv("LLF_MINIO_ACCESS_KEY", "key")
    monkeypatch.setenv("LLF_MINIO_SECRET_KEY", "secret-key")

    response = client.get(f"/llf/outputs/{KEY}", follow_redirects=False)
    refused = client.get("/llf/outputs/runs/../secret.txt", follow_redirects=False)

    assert response.status_code == 307
    assert response.headers["location"].startswith(f"http://127.0.0.1:9/lake/prefix/{KEY}?")
    assert "X-Amz-Signature=" in response.headers["location"]
    assert refused.status_code == 400
