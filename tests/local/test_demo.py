"""`make demo` / `make stop` for real: embedded PostgreSQL and Airflow's four components started detached,
the five example streams run with the Ollama stand-in as the LLM, then everything stopped."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from llf.airflow_api import AirflowClient
from llf.local.airflow import free_port, is_alive
from llf.settings import PROJECT_ROOT
from tests.support.chromium import RENDER_BUDGET, chromium
from tests.support.standins.example_llm import example_responder
from tests.support.standins.ollama_server import OllamaBehaviour, ollama_server

pytestmark = pytest.mark.e2e

BUSINESS_DATE = dt.date(2026, 2, 2)
DEMO_TIMEOUT_S = 1500


def llf_local(*arguments: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llf.cli", "local", *arguments], env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """LLF_LOCAL_DIR and LLF_LOCAL_PORT of the test's own, OLLAMA_HOST = the stand-in; `stop` at the end
    whatever happened."""
    with ollama_server(OllamaBehaviour(responder=example_responder)) as ollama:
        env = {**os.environ, "LLF_LOCAL_DIR": str(tmp_path_factory.mktemp("local")),
               "LLF_LOCAL_PORT": str(free_port()), "OLLAMA_HOST": ollama.url, "COLUMNS": "200"}
        env.pop("LLF_CONTROL_DB_URL", None)
        yield env
        llf_local("stop", env=env)


@pytest.fixture(scope="module")
def demo(local_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return llf_local("demo", "--date", BUSINESS_DATE.isoformat(), env=local_env, timeout=DEMO_TIMEOUT_S)


def _state(env: dict[str, str]) -> dict:
    return json.loads((Path(env["LLF_LOCAL_DIR"]) / "state.json").read_text())


def test_given_ollama_answering_when_demo_runs_then_every_example_process_succeeds(demo, local_env) -> None:
    assert demo.returncode == 0, demo.stdout[-6000:] + demo.stderr[-4000:]
    assert "LLM: Ollama at" in demo.stdout and "Demo succeeded" in demo.stdout
    connection = psycopg2.connect(_state(local_env)["env"]["LLF_CONTROL_DB_URL"])
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM cntl_af.cntl_cfg_prcs")
        (registered,) = cursor.fetchone()
        cursor.execute("SELECT DISTINCT ON (prcs_nm) prcs_nm, status FROM cntl_af.cntl_cfg_log "
                       "WHERE prcs_nm IS NOT NULL AND business_date = %s AND status <> 'SKIPPED' "
                       "ORDER BY prcs_nm, log_id DESC", (BUSINESS_DATE,))
        statuses = dict(cursor.fetchall())
    connection.close()
    assert len(statuses) == registered >= 16
    assert set(statuses.values()) == {"SUCCESS"}, statuses


def test_given_the_demo_ran_then_airflow_has_the_examples_llm_pool_with_the_llm_servers_parallelism(
    demo, local_env
) -> None:
    pools = AirflowClient(f"http://127.0.0.1:{local_env['LLF_LOCAL_PORT']}").pools()

    assert "created: llm (2 slots)" in demo.stdout
    assert [(pool["slots"], "OLLAMA_NUM_PARALLEL" in pool["description"]) for pool in pools
            if pool["name"] == "llm"] == [(2, True)]


def test_given_the_demo_ran_then_it_ends_with_the_status_table_and_where_to_look(demo, local_env) -> None:
    assert f"llf status for {BUSINESS_DATE}" in demo.stdout
    assert f"Airflow UI:   http://127.0.0.1:{local_env['LLF_LOCAL_PORT']}" in demo.stdout
    assert f"Lake folder:  {local_env['LLF_LOCAL_DIR']}/lake" in demo.stdout
    assert "Sentiment example accuracy on its labelled sample: " in demo.stdout


@pytest.mark.parametrize(("page", "screenshot", "shows"), [
    ("dags?tags=llf%3Astream", "airflow_stream_dags.png", ["stream__quickstart", "stream__sentiment_analysis"]),
    ("dags/stream__sentiment_analysis", "airflow_stream_grid.png", ["evaluate", "finish_stream"]),
    ("dags?tags=llf%3Aprocess", "airflow_process_dags.png", ["process__sa_classify", "process__qs_publish"]),
])
def test_given_the_demo_ran_when_the_airflow_ui_is_opened_then_it_shows_the_dags_and_a_screenshot_is_saved(
    demo, local_env, page: str, screenshot: str, shows: list[str]
) -> None:
    url = f"http://127.0.0.1:{local_env['LLF_LOCAL_PORT']}/{page}"
    target = PROJECT_ROOT / "resource" / screenshot

    dom = chromium(url, RENDER_BUDGET, "--dump-dom")
    chromium(url, RENDER_BUDGET, f"--screenshot={target}", "--window-size=1500,900")

    assert all(name in dom for name in shows), [name for name in shows if name not in dom]
    assert target.stat().st_size > 20_000


def test_given_a_running_stack_when_started_again_then_it_is_reused(demo, local_env) -> None:
    pids_before = _state(local_env)["pids"]

    again = llf_local("up", env=local_env)

    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout and _state(local_env)["pids"] == pids_before


def test_given_the_port_is_taken_by_another_server_when_started_then_the_error_names_the_setting(
    demo, local_env
) -> None:
    other = {**local_env, "LLF_LOCAL_DIR": str(Path(local_env["LLF_LOCAL_DIR"]) / "other")}

    clash = llf_local("up", env=other)

    assert clash.returncode == 2 and "LLF_LOCAL_PORT" in clash.stderr, clash.stderr
    llf_local("stop", env=other)


def test_given_another_llm_when_started_again_then_the_old_vectors_are_dropped_and_airflow_restarted(
    demo, local_env
) -> None:
    pids_before = _state(local_env)["pids"]
    url = _state(local_env)["env"]["LLF_CONTROL_DB_URL"]
    assert _schemas(url) >= {"llf_vectors"}  # the examples stored embeddings of the stand-in's model

    switched = llf_local("up", env={**local_env, "LLF_LLM_PROVIDER": "llamacpp"}, timeout=600)

    assert switched.returncode == 0, switched.stderr
    assert "The LLM changed since the last demo" in switched.stdout
    assert _vector_tables(url) == set()  # the schema stays: it carries the notebook role's rights
    assert _state(local_env)["pids"] != pids_before
    assert _state(local_env)["env"]["LLF_LLM_PROVIDER"] == "llamacpp"


def _vector_tables(url: str) -> set[str]:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'llf_vectors'")
            return {name for (name,) in cursor.fetchall()}
    finally:
        connection.close()


def _schemas(url: str) -> set[str]:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT schema_name FROM information_schema.schemata")
            return {name for (name,) in cursor.fetchall()}
    finally:
        connection.close()


def test_given_the_stack_runs_when_stopped_then_no_component_or_database_is_left(demo, local_env) -> None:
    pids = _state(local_env)["pids"]

    stopped = llf_local("stop", env=local_env)

    assert stopped.returncode == 0, stopped.stderr
    assert not any(map(is_alive, pids.values()))
    assert not (Path(local_env["LLF_LOCAL_DIR"]) / "pgdata" / "postmaster.pid").exists()
    assert not (Path(local_env["LLF_LOCAL_DIR"]) / "state.json").exists()


def test_the_make_targets_run_these_commands() -> None:
    dry_run = subprocess.run(["make", "-n", "--always-make", "demo", "stop"], cwd=PROJECT_ROOT, text=True,
                             capture_output=True, check=True).stdout

    assert "llf local demo" in dry_run and "llf local stop" in dry_run
