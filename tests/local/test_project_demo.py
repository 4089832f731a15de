"""The acceptance of `llf init`: llf installed from its wheel into a fresh virtualenv, a project scaffolded in a
folder outside the repository, and `llf local demo` there runs THAT project (its stream file synced, its
notebooks, its DAG file, its lake and .llf-local/) to SUCCESS, with the Ollama stand-in as the LLM."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from llf.local.airflow import free_port
from llf.settings import PROJECT_ROOT
from tests.support.standins.example_llm import example_responder
from tests.support.standins.ollama_server import OllamaBehaviour, ollama_server
from tests.support.wheel import Installed, install_wheel, run

pytestmark = pytest.mark.e2e

BUSINESS_DATE = dt.date(2026, 3, 2)
DEMO_TIMEOUT_S = 1500


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Installed, Path, dict[str, str]]]:
    """The installed wheel, `llf init demo-project` in a folder outside the repository, and its environment;
    `llf local stop` at the end whatever happened."""
    installed = install_wheel(tmp_path_factory.mktemp("wheel"))
    outside = tmp_path_factory.mktemp("outside")
    assert not outside.resolve().is_relative_to(PROJECT_ROOT)
    run(installed.llf, "init", "demo-project", cwd=outside, env=installed.env)
    with ollama_server(OllamaBehaviour(responder=example_responder)) as ollama:
        env = {**installed.env, "LLF_LOCAL_PORT": str(free_port()), "OLLAMA_HOST": ollama.url, "COLUMNS": "200"}
        yield installed, outside / "demo-project", env
        subprocess.run([installed.llf, "local", "stop"], cwd=outside / "demo-project", env=env, timeout=300,
                       check=False, capture_output=True)


@pytest.fixture(scope="module")
def demo(project) -> subprocess.CompletedProcess[str]:
    installed, folder, env = project
    return subprocess.run([installed.llf, "local", "demo", "--date", BUSINESS_DATE.isoformat()], cwd=folder,
                          env=env, text=True, capture_output=True, timeout=DEMO_TIMEOUT_S, check=False)


def test_given_a_scaffolded_project_outside_the_repository_when_demo_runs_then_its_stream_succeeds(
    project, demo
) -> None:
    _, folder, _ = project

    assert demo.returncode == 0, demo.stdout[-6000:] + demo.stderr[-4000:]
    assert "Registered 1 stream file(s); running 1 active stream(s)" in demo.stdout and "Demo succeeded" in demo.stdout
    state = json.loads((folder / ".llf-local" / "state.json").read_text())
    assert state["env"]["LLF_NOTEBOOKS_DIR"] == str(folder.resolve() / "notebooks")
    with psycopg2.connect(state["env"]["LLF_CONTROL_DB_URL"]) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT ON (prcs_nm) prcs_nm, status FROM cntl_af.cntl_cfg_log "
                       "WHERE prcs_nm IS NOT NULL AND business_date = %s ORDER BY prcs_nm, log_id DESC",
                       (BUSINESS_DATE,))
        statuses = dict(cursor.fetchall())
    connection.close()
    assert statuses == dict.fromkeys(["qs_convert", "qs_extract_orders", "qs_extract_returns", "qs_publish"],
                                     "SUCCESS")
