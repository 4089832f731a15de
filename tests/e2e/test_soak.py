"""The short chaos soak (issue 24, "Prove it"): every fault kind in every round, the run promises checked after each.

Two streams of LLF_SOAK_PROCESSES (30) trivial notebooks, dependencies across groups and streams, retries 1-2,
notebooks that fail for good or flake, on the session's real Airflow; LLF_SOAK_ROUNDS (10) rounds. Each
round injects, at times drawn from its seed, a SIGKILL of a task process and of a kernel, Airflow's
"mark failed" and "clear", the end of a run-lock session, a PostgreSQL restart, 5 s of refused connections
and a paused process DAG (tests/support/chaos). bench/soak.py runs the long version and replays a round.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from llf.airflow_api import AirflowClient
from llf.local.airflow import AirflowStack
from llf.local.postgres import EmbeddedPostgres
from tests.support.chaos.faults import SoakEnv
from tests.support.chaos.soak import prepare, round_line, soak

ROUNDS = int(os.environ.get("LLF_SOAK_ROUNDS", "10"))
PROCESSES = int(os.environ.get("LLF_SOAK_PROCESSES", "30"))
SEED = int(os.environ.get("LLF_SOAK_SEED", "2024"))
PLAN_SEED = int(os.environ.get("LLF_SOAK_PLAN_SEED", "24"))


def test_given_two_streams_under_every_fault_when_soaked_for_rounds_then_no_run_promise_breaks(
    postgres: EmbeddedPostgres, airflow: AirflowStack, airflow_api: AirflowClient, e2e_control_db_url: str,
    e2e_notebooks_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    env = SoakEnv(airflow_api, postgres, airflow, e2e_control_db_url, tmp_path / "markers")
    plan = prepare(env, e2e_notebooks_dir, f"soak_{secrets.token_hex(2)}", PLAN_SEED, PROCESSES)

    result = soak(env, plan, ROUNDS, SEED, PROCESSES, on_round=lambda r: print(
        round_line(r) + ("\n" + r.report(PLAN_SEED, PROCESSES) if r.violations else ""), flush=True))

    with capsys.disabled():  # the figures docs/explanation/testing.md quotes,
        # printed by `make test` even when the soak passes
        print(f"\n{result.summary()}", flush=True)
    assert result.violations == 0, f"{result.summary()}\n{result.reports()}"
