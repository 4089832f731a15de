"""The chaos soak (issue 24): run the streams for N rounds while every fault kind is injected, check the promises.

    .venv/bin/python bench/soak.py [--rounds 100] [--seed 1] [--plan-seed 24] [--processes 30] [--keep]

Starts an embedded PostgreSQL and a real Airflow (scheduler, dag-processor, triggerer, api-server;
LocalExecutor) serving the project's `dags/`, registers two streams of --processes trivial notebooks through
the control tables (dependencies across groups and streams, retries 1-2, notebooks that fail for good or
flake; drawn from --plan-seed), then runs --rounds rounds, round i with seed --seed + i: each triggers the
streams for a new business date through the REST API while a driver thread injects, at times drawn from the
round's seed, a SIGKILL of a task process and of a kernel, Airflow's "mark failed" and "clear", the end of a
run-lock session, a PostgreSQL restart, 5 s of refused connections and a paused process DAG. After each
round settles, the run promises are checked from cntl_cfg_log, the notebooks' markers, the lake and Airflow
(tests/support/chaos/checks.py). Prints each round, every violation with the round's seed, injection
schedule and the command that replays it, then rounds, faults injected by kind, violations, wall time and
the load average. Exits 1 when any promise broke.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

from llf.local.airflow import AirflowStack  # noqa: E402
from llf.local.postgres import EmbeddedPostgres, with_database  # noqa: E402
from tests.support.chaos.faults import SoakEnv  # noqa: E402
from tests.support.chaos.soak import prepare, round_line, soak  # noqa: E402

METADATA_DATABASE = "airflow_soak"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100, help="rounds to run (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first round; round i has seed + i")
    parser.add_argument("--plan-seed", type=int, default=24, help="seed of the streams' shape (default 24)")
    parser.add_argument("--processes", type=int, default=30, help="processes over both streams (default 30)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, lake, markers)")
    args = parser.parse_args()
    if args.processes < 10:
        parser.error("--processes must be at least 10 (two streams of several groups)")

    work = Path(tempfile.mkdtemp(prefix="llf-bench-soak-"))
    postgres = EmbeddedPostgres(work / "pgdata")
    stack = None
    try:
        postgres.create_template()
        control_url = postgres.fresh_database(prefix="soak")
        postgres.execute_admin(f"CREATE DATABASE {METADATA_DATABASE}")
        stack = _start_airflow(work, postgres, control_url)
        env = SoakEnv(stack.client(), postgres, stack, control_url, work / "markers")
        plan = prepare(env, work / "notebooks", "soak", args.plan_seed, args.processes)
        print(f"plan (seed {args.plan_seed}): {plan.describe()}", flush=True)
        result = soak(env, plan, args.rounds, args.seed, args.processes,
                      on_round=lambda r: print(round_line(r) + ("\n" + r.report(args.plan_seed, args.processes)
                                                                  if r.violations else ""), flush=True))
        print(result.summary())
    finally:
        if stack is not None:
            stack.stop()
        postgres.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if result.violations else 0)


def _start_airflow(work: Path, postgres: EmbeddedPostgres, control_url: str) -> AirflowStack:
    (work / "notebooks").mkdir(parents=True, exist_ok=True)
    stack = AirflowStack(
        home=work / "airflow-home",
        metadata_db_url=with_database(postgres.admin_url, METADATA_DATABASE).replace(
            "postgresql://", "postgresql+psycopg2://", 1),
        dags_folders={"llf": ROOT / "dags"},
        extra_env={"PYTHONPATH": str(ROOT), "LLF_CONTROL_DB_URL": control_url,
                   "LLF_NOTEBOOK_DB_URL": postgres.notebook_url(control_url),
                   "LLF_NOTEBOOKS_DIR": str(work / "notebooks"), "LLF_LAKE_URL": (work / "lake").as_uri(),
                   "LLF_SNAPSHOT_REFRESH_SECONDS": "2", "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2"},
    )
    stack.start()
    return stack


if __name__ == "__main__":
    main()
