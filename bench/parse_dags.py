"""How long Airflow takes to parse the llf DAG files with N registered processes.

    .venv/bin/python bench/parse_dags.py --processes 1000

Registers N processes in N/10 streams (two groups of five per stream, max_parallel 2; every process
but the first depends on the one before it) on an embedded PostgreSQL, then measures, each in a
fresh interpreter that has pre-imported Airflow like the dag-processor does, the processing time of
dags/ as DagBag reports it (dagbag_stats):
  - cold: the snapshot cache is missing or stale, so the parse reads and validates the control DB;
  - warm: the cache is fresh (the common case: at most one refresh per LLF_SNAPSHOT_REFRESH_SECONDS);
  - one DAG: the parse a task run does, under get_parsing_context() for one process DAG.
Prints one figure per line; the last is the warm parse of all DAGs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

CHILD_CODE = """
import json, sys
import airflow.sdk, airflow.providers.standard.operators.trigger_dagrun  # what the dag-processor pre-imports
import airflow.providers.standard.operators.python, airflow.providers.standard.operators.empty
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1], safe_mode=True)
print(json.dumps({"seconds": sum(s.duration.total_seconds() for s in bag.dagbag_stats),
                  "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                  "errors": len(bag.import_errors)}))
"""


def register(url: str, processes: int) -> None:
    """Bulk INSERTs the way a user would register, only many at once."""
    import psycopg2

    streams = max(1, processes // 10)
    statements = [
        ("INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, strem_desc) "
         "SELECT 'bench_s' || s, 'benchmark stream ' || s FROM generate_series(0, %s) s", (streams - 1,)),
        ("INSERT INTO cntl_af.cntl_cfg_schedule (strem_id, cron_expr, timezone) "
         "SELECT strem_id, '0 6 * * *', 'Europe/Paris' FROM cntl_af.cntl_cfg_strem", None),
        ("INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel) "
         "SELECT strem_id, 'g' || g, g, 2 FROM cntl_af.cntl_cfg_strem, generate_series(1, 2) g", None),
        ("INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, priority, params) "
         "SELECT (SELECT prcs_grp_id FROM cntl_af.cntl_cfg_prcs_grp g JOIN cntl_af.cntl_cfg_strem s "
         "        USING (strem_id) WHERE s.strem_nm = 'bench_s' || (p / 10) "
         "        AND g.prcs_grp_nm = 'g' || (1 + mod(p, 10) / 5)), "
         "'bench_p' || lpad(p::text, 6, '0'), mod(p, 10), '{\"top_k\": 5}' FROM generate_series(0, %s) p",
         (processes - 1,)),
        ("INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) "
         "SELECT prcs_id, 'bench.ipynb' FROM cntl_af.cntl_cfg_prcs", None),
        ("INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id) "
         "SELECT p.prcs_id, q.prcs_id FROM cntl_af.cntl_cfg_prcs p JOIN cntl_af.cntl_cfg_prcs q "
         "ON q.prcs_nm = 'bench_p' || lpad((substr(p.prcs_nm, 8)::int - 1)::text, 6, '0')", None),
    ]
    connection = psycopg2.connect(url)
    with connection, connection.cursor() as cursor:
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
    connection.close()


def parse(env: dict[str, str], only_dag_id: str = "") -> dict:
    if only_dag_id:  # what a task run sets before it parses the file
        env = {**env, "_AIRFLOW_PARSING_CONTEXT_DAG_ID": only_dag_id}
    child = subprocess.run(
        [sys.executable, "-c", CHILD_CODE, str(ROOT / "dags")], env=env, capture_output=True, text=True
    )
    if child.returncode:
        sys.exit(f"the parse failed:\n{child.stderr}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=1000)
    args = parser.parse_args()

    from llf.local.postgres import TEMPLATE_DATABASE, EmbeddedPostgres, with_database
    from tests.support.notebooks import write_notebook

    with tempfile.TemporaryDirectory(prefix="llf-bench-") as scratch:
        folder = Path(scratch)
        server = EmbeddedPostgres(folder / "pgdata")
        try:
            server.create_template()  # the control schema, applied by llf's own migrations
            url = with_database(server.admin_url, TEMPLATE_DATABASE)
            register(url, args.processes)
            write_notebook(folder / "notebooks" / "bench.ipynb", "print(greeting)")
            env = {**os.environ, "LLF_CONTROL_DB_URL": url, "LLF_NOTEBOOKS_DIR": str(folder / "notebooks"),
                   "LLF_STATE_DIR": str(folder / "state"), "LLF_SNAPSHOT_REFRESH_SECONDS": "3600",
                   "PYTHONPATH": str(ROOT), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
            cold = parse(env)
            warm = parse(env)
            one = parse(env, "process__bench_p000001")
        finally:
            server.stop()
    print(f"registered: {args.processes} processes in {max(1, args.processes // 10)} streams")
    print(f"dags: {warm['dags']} ({warm['tasks']} tasks), import errors: {warm['errors']}")
    print(f"cold parse (control DB read + validation + cache write): {cold['seconds']:.2f} s")
    print(f"one DAG under get_parsing_context(): {one['seconds']:.3f} s ({one['dags']} DAG)")
    print(f"parse {args.processes} processes: {warm['seconds']:.2f} s")


if __name__ == "__main__":
    main()
