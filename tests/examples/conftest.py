"""Running the shipped example streams in-process: their SQL registration, their notebooks, the real runner,
a folder lake, pgvector in the test's control DB, and the Ollama stand-in answering like a small model."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
from collections.abc import Callable, Iterator

import pytest

from llf.context import RunContext
from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from llf.settings import PROJECT_ROOT
from tests.support.standins.example_llm import example_responder
from tests.support.standins.ollama_server import OllamaBehaviour, OllamaStandin, ollama_server

BUSINESS_DATE = dt.date(2026, 3, 14)
EXAMPLES_SQL = PROJECT_ROOT / "control_sql" / "examples"


@pytest.fixture(autouse=True)
def kernel_imports_llf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook kernels import llf even from a venv without the editable install (`make` adds it)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))


@pytest.fixture
def example_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[OllamaStandin]:
    """The Ollama stand-in with the examples' deterministic policy; LLM settings point at it."""
    for name in ("LLF_LLM_PROVIDER", "LLF_LLM_HOOKS", "LLF_LLM_REASKS", "LLF_RUN_CONTEXT", "LLF_VECTOR_URL"):
        monkeypatch.delenv(name, raising=False)
    with ollama_server(OllamaBehaviour(responder=example_responder)) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        monkeypatch.setenv("LLF_LLM_MODEL", "llama3.2")
        monkeypatch.setenv("LLF_EMBED_MODEL", "nomic-embed-text")
        monkeypatch.setenv("LLF_LLM_RETRY_WAIT", "0.01")
        yield server


@pytest.fixture
def example_stream(sql, control_db_url, example_llm, lake_dir, monkeypatch) -> Callable[[str], list[str]]:
    """`run(stream, params, full_rerun)`: apply the pools file and the stream's registration file (then merge
    `params` per process into the registered ones), run its processes in stream order, return their names.

    A failed process does not stop the others (fail policy CONTINUE); its dependants end BLOCKED.
    Stream order is what a stream run uses: groups by priority, then processes by priority; the example
    registrations put every dependency in an earlier group, so this is also dependency order.
    """
    monkeypatch.setenv("LLF_NOTEBOOKS_DIR", str(PROJECT_ROOT / "notebooks"))

    runs = itertools.count(1)  # each call is a new run, as each Airflow run has its own id (only a retry keeps it)

    def run(strem_nm: str, params: dict[str, dict] | None = None, full_rerun: bool = False) -> list[str]:
        run = "run" if (number := next(runs)) == 1 else f"run{number}"
        (registration,) = EXAMPLES_SQL.glob(f"0*_{strem_nm}.sql")
        for path in (EXAMPLES_SQL / "00_pools.sql", registration):  # the pools its processes name, then the stream
            sql(path.read_text(encoding="utf-8"))
        for prcs_nm, changed in (params or {}).items():  # as a user would: UPDATE the registration
            sql("UPDATE cntl_af.cntl_cfg_prcs SET params = params || %s::jsonb WHERE prcs_nm = %s",
                (json.dumps(changed), prcs_nm))
        names = [row[0] for row in sql(
            "SELECT p.prcs_nm FROM cntl_af.cntl_cfg_prcs p JOIN cntl_af.cntl_cfg_prcs_grp g USING (prcs_grp_id) "
            "JOIN cntl_af.cntl_cfg_strem s USING (strem_id) WHERE s.strem_nm = %s AND p.actv_flg "
            "ORDER BY g.priority, p.priority", (strem_nm,))]
        for prcs_nm in names:
            with contextlib.suppress(ProcessFailed):  # policy CONTINUE: the log says what failed or was blocked
                run_process(RunContext(strem_nm=strem_nm, prcs_nm=prcs_nm, business_date=BUSINESS_DATE,
                                       run_id=f"{run}_{prcs_nm}", triggered_by="stream", full_rerun=full_rerun))
        return names

    return run


def log_rows(sql, strem_nm: str) -> dict[str, tuple[str, str]]:
    """prcs_nm -> (status, message) of the latest attempt of each process of the stream."""
    rows = sql("SELECT DISTINCT ON (prcs_nm) prcs_nm, status, message FROM cntl_af.cntl_cfg_log "
               "WHERE strem_nm = %s AND prcs_nm IS NOT NULL ORDER BY prcs_nm, log_id DESC", (strem_nm,))
    return {name: (status, message) for name, status, message in rows}


def progress(sql, prcs_nm: str) -> list[str]:
    """The nb.log lines the process recorded."""
    return [row[0] for row in sql(
        "SELECT message FROM cntl_af.cntl_prcs_progress WHERE prcs_nm = %s ORDER BY progress_id", (prcs_nm,))]
