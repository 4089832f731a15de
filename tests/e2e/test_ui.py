"""The control plane in a running Airflow: the api-server loads the plugin, and a real browser shows the page.

Headless Chromium (Debian's `chromium`) loads the page from the running api-server; the test asserts on the DOM
it rendered and saves a screenshot for the docs (resource/ui_control_plane.png, on docs/reference/ui.md).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from pathlib import Path

import httpx
import pytest

from llf.context import RunContext, StreamRunKey
from llf.control import log as run_log
from llf.control import stream_runs
from llf.local.airflow import AirflowStack
from tests.support.chromium import chromium

pytestmark = pytest.mark.ui

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO_ROOT / "resource" / "ui_control_plane.png"
DAY = dt.date(2026, 5, 4)
def _register_merchandising(registry, sql, control_db_url: str, lake: Path, stream: str) -> list[str]:
    """A three-group stream with dependencies and one run that failed half-way; returns its process names."""
    stream_id = registry.stream(stream, description="Daily merchandise recommendations")
    registry.schedule(stream_id, "0 6 * * 1-5", "Europe/Paris")
    ingest = registry.group(stream_id, "ingest", priority=1, max_parallel=2)
    enrich = registry.group(stream_id, "enrich", priority=2)
    recommend = registry.group(stream_id, "recommend", priority=3)
    suffix = stream.rsplit("_", 1)[-1]
    names = [f"load_sales_{suffix}", f"load_catalog_{suffix}", f"embed_products_{suffix}", f"recommend_{suffix}"]
    sales, catalog = registry.process(ingest, names[0], priority=1), registry.process(ingest, names[1], priority=2)
    embed, reco = registry.process(enrich, names[2]), registry.process(recommend, names[3])
    registry.depend(embed, catalog)
    registry.depend(reco, embed)
    registry.depend(reco, sales)

    run_id = f"manual__{DAY}"
    stream_runs.mark_stream_running(control_db_url, StreamRunKey(stream, run_id, DAY))
    outcomes = [("12,480 sales rows loaded", "SUCCESS"), ("3,112 products loaded", "SUCCESS"),
                ("ReadTimeout: the LLM did not answer within 60 s (cell 4)", "FAILED")]
    for name, (message, status) in zip(names, outcomes, strict=False):
        context = RunContext(strem_nm=stream, prcs_nm=name, business_date=DAY, run_id=f"manual__{name}",
                             strem_run_id=run_id, dag_id=f"process__{name}")
        folder = lake / "runs" / stream / name / str(DAY) / context.run_id
        folder.mkdir(parents=True)
        (folder / f"{name}.html").write_text(f"<html><body><h1>{name}</h1></body></html>")
        log_id = run_log.mark_running(control_db_url, context)
        time.sleep(0.5)  # visible bars on the timeline
        finish = run_log.mark_success if status == "SUCCESS" else run_log.mark_failed
        finish(control_db_url, context.model_copy(update={"log_id": log_id}), message, f"{folder.as_uri()}/")
        sql("INSERT INTO cntl_af.cntl_llm_usage (log_id, strem_nm, prcs_nm, business_date, run_id, provider_nm, "
            "model_nm, operation_nm, prompt_tokens, completion_tokens) "
            "VALUES (%s, %s, %s, %s, %s, 'ollama', 'llama3.2', 'chat', 812, 236)",
            (log_id, stream, name, DAY, context.run_id))
    blocked = RunContext(strem_nm=stream, prcs_nm=names[3], business_date=DAY, run_id=f"manual__{names[3]}",
                         strem_run_id=run_id, dag_id=f"process__{names[3]}")
    run_log.mark_blocked(control_db_url, blocked, f"dependency {names[2]} FAILED")
    stream_runs.mark_stream_finished(control_db_url, StreamRunKey(stream, run_id, DAY), "FAILED", "1 failed, 1 blocked")
    return names


def test_given_registered_processes_when_the_page_is_opened_in_chromium_then_they_appear_and_a_screenshot_is_saved(
    airflow: AirflowStack, registry, sql, control_db_url: str, e2e_lake_dir: Path
):
    stream = f"merch_reco_{secrets.token_hex(3)}"
    names = _register_merchandising(registry, sql, control_db_url, e2e_lake_dir, stream)
    token = httpx.get(f"{airflow.base_url}/auth/token", timeout=10).raise_for_status().json()["access_token"]
    api = httpx.Client(base_url=airflow.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    plugins = api.get("/api/v2/plugins").raise_for_status().json()["plugins"]
    page = f"{airflow.base_url}/llf/?stream={stream}"

    dom = chromium(page, "--dump-dom")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    chromium(page, f"--screenshot={SCREENSHOT}", "--window-size=1400,900")

    plugin = next(p for p in plugins if p["name"] == "llf_control_plane")
    assert plugin["external_views"][0]["href"] == "llf/"
    for name in names:
        assert f'data-process="{name}"' in dom
    assert "ReadTimeout: the LLM did not answer" in dom and "BLOCKED" in dom
    output = api.get(f"/llf/outputs/runs/{stream}/{names[0]}/{DAY}/manual__{names[0]}/{names[0]}.html")
    assert output.status_code == 200 and f"<h1>{names[0]}</h1>" in output.text
    assert SCREENSHOT.stat().st_size > 10_000
