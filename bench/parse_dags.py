"""How long Airflow takes to parse the llf DAG files with N registered processes.

    .venv/bin/python bench/parse_dags.py --processes 1000
    .venv/bin/python bench/parse_dags.py --processes 2000 4000 10000 --profile /tmp/llf-profiles

Registers N processes in N/10 streams (two groups of five per stream, max_parallel 2; every process
but the first depends on the one before it; each process its own notebook file, as users register them,
so a refresh reads and checks N notebooks) on an embedded PostgreSQL, then measures, each in a
fresh interpreter that has pre-imported Airflow like the dag-processor does, the processing time of
dags/ as DagBag reports it (dagbag_stats):
  - cold: no snapshot cache yet, so the parse reads and validates the control DB (within
    LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS, else in the background: then it builds no DAG);
  - warm: the cache is fresh (the common case: at most one refresh per LLF_SNAPSHOT_REFRESH_SECONDS);
  - one DAG: the parse a task run does, under get_parsing_context() for one process DAG;
  - refresh alone: `python -m llf.dagbuild.refresh`, what a slow refresh runs in the background;
  - task starts: the parse a task run does (dag id and task id in the parsing context) of one stream DAG
    with a stale cache (older than a task may build from, as on an idle Celery worker) and with none (a
    fresh worker), alone and --task-starts at once; each line says how many control DB connections the
    parses opened and whether the shared cache was rewritten (a full refresh).
Each kind runs --repeat times (3 by default) and the median round is printed with the spread [min-max];
the database is vacuumed and analysed after registering, as autovacuum would be. Prints one figure per line,
each with the parse's CPU time, the time per registered process and the
load average at that moment (the machine is shared: judge linearity by CPU time and per-process time,
within one invocation). With several N, a summary table ends the output. --profile DIR writes one
cProfile file per parse (DIR/<N>-<kind>.pstats; read them with `python -m pstats`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

if TYPE_CHECKING:
    from llf.local.postgres import EmbeddedPostgres

CHILD_CODE = """
import cProfile, json, sys, time
import psycopg2
connects = []
real_connect = psycopg2.connect
def counting_connect(*args, **kwargs):  # counts the control DB connections the parse opens
    connects.append(1)
    return real_connect(*args, **kwargs)
psycopg2.connect = counting_connect
import airflow.sdk, airflow.providers.standard.operators.trigger_dagrun  # what the dag-processor pre-imports
import airflow.providers.standard.operators.python, airflow.providers.standard.operators.empty
from airflow.dag_processing.dagbag import DagBag
profile = cProfile.Profile() if sys.argv[2] else None
cpu = time.process_time()
if profile:
    profile.enable()
bag = DagBag(sys.argv[1], safe_mode=True)
if profile:
    profile.disable()
    profile.dump_stats(sys.argv[2])
print(json.dumps({"seconds": sum(s.duration.total_seconds() for s in bag.dagbag_stats),
                  "cpu": time.process_time() - cpu,
                  "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                  "errors": len(bag.import_errors), "messages": list(bag.import_errors.values()),
                  "connects": len(connects)}))
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
         "SELECT prcs_id, 'bench/' || prcs_nm || '.ipynb' FROM cntl_af.cntl_cfg_prcs", None),
        ("INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id) "
         "SELECT p.prcs_id, q.prcs_id FROM cntl_af.cntl_cfg_prcs p JOIN cntl_af.cntl_cfg_prcs q "
         "ON q.prcs_nm = 'bench_p' || lpad((substr(p.prcs_nm, 8)::int - 1)::text, 6, '0')", None),
    ]
    connection = psycopg2.connect(url)
    with connection, connection.cursor() as cursor:
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
    connection.close()


def write_notebooks(folder: Path, processes: int, write_notebook: Callable[..., Path]) -> None:
    """One notebook per process (bench/bench_p000000.ipynb, ...), declaring the registered params."""
    template = write_notebook(folder / "bench.ipynb", "print(greeting, top_k)",
                              parameters="greeting = 'hello'\ntop_k = 3")
    (folder / "bench").mkdir(parents=True, exist_ok=True)
    for number in range(processes):
        shutil.copyfile(template, folder / "bench" / f"bench_p{number:06d}.ipynb")


def parse(env: dict[str, str], profile: Path | None, only_dag_id: str = "") -> dict:
    """One parse of dags/ in a fresh interpreter, with its wall and CPU time and the load average after it."""
    if only_dag_id:  # what a task run sets before it parses the file
        env = {**env, "_AIRFLOW_PARSING_CONTEXT_DAG_ID": only_dag_id}
    return parses([env], profile)[0]


def parses(envs: list[dict[str, str]], profile: Path | None = None) -> list[dict]:
    """One parse per environment, all started at once, each in a fresh interpreter; their results."""
    children = [subprocess.Popen([sys.executable, "-c", CHILD_CODE, str(ROOT / "dags"), str(profile or "")],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for env in envs]
    results = []
    for child in children:
        stdout, stderr = child.communicate()
        if child.returncode:
            sys.exit(f"the parse failed:\n{stderr}")
        results.append({**json.loads(stdout.strip().splitlines()[-1]), "load": os.getloadavg()[0]})
    return results


# The task a task-start parse runs: the first process of the second stream (it depends on the first stream's last).
TASK_DAG_ID, TASK_ID = "stream__bench_s1", "g1.bench_p000010"
# How far back a stale cache is set: older than any cache a task may build from as it is.
STALE_SECONDS = 7200


def task_starts(env: dict[str, str], state: Path, concurrent: int, cache: str) -> dict:
    """`concurrent` task-start parses of one stream DAG at once, on a `cache` that is "stale" or "none"
    (rebuilt before each round); wall time of the slowest, connections opened, whether the cache was
    rewritten."""
    shutil.rmtree(state, ignore_errors=True)
    if cache == "stale":
        refresh(env)
        os.utime(state / "snapshot.json", (time.time() - STALE_SECONDS,) * 2)
    before = (state / "snapshot.json").stat().st_mtime if (state / "snapshot.json").exists() else 0.0
    task_env = {**env, "_AIRFLOW_PARSING_CONTEXT_DAG_ID": TASK_DAG_ID, "_AIRFLOW_PARSING_CONTEXT_TASK_ID": TASK_ID}
    results = parses([task_env] * concurrent)
    after = (state / "snapshot.json").stat().st_mtime if (state / "snapshot.json").exists() else 0.0
    # A parse that built no DAG (an import error: the task would fail at start) is counted and named, not fatal.
    failed = [r for r in results if r["errors"] or r["dags"] != 1]
    slowest = max(results, key=lambda r: r["seconds"])
    return {**slowest, "cpu": sum(r["cpu"] for r in results), "connects": sum(r["connects"] for r in results),
            "rewritten": after > before, "load": os.getloadavg()[0], "failed": len(failed),
            "why": failed[0]["messages"][0].strip().splitlines()[-1][:300] if failed and failed[0]["messages"] else ""}


def task_figure(name: str, result: dict) -> str:
    low, high = result.get("spread", (result["seconds"], result["seconds"]))
    failed = f"; FAILED AT PARSE: {result['failed']} ({result['why']})" if result["failed"] else ""
    return (f"{name}: slowest {result['seconds']:.2f} s [{low:.2f}-{high:.2f}] (cpu of all {result['cpu']:.2f} s, "
            f"{result['connects']} control DB connection(s), cache rewritten: {result['rewritten']}, "
            f"load {result['load']:.2f}){failed}")


def figure(name: str, result: dict, processes: int) -> str:
    """One line: wall (as DagBag reports it), CPU, per process, load average; import errors named."""
    errors = f"; IMPORT ERRORS: {result['errors']} {result['messages']}" if result["errors"] else ""
    low, high = result.get("spread", (result["seconds"], result["seconds"]))
    return (f"{name}: {result['seconds']:.2f} s [{low:.2f}-{high:.2f}] (cpu {result['cpu']:.2f} s, "
            f"{1000 * result['seconds'] / processes:.3f} ms/process, load {result['load']:.2f}){errors}")


def measure(server: EmbeddedPostgres, folder: Path, processes: int, profiles: Path | None,
            repeat: int, concurrent: int) -> dict[str, dict]:
    """Register `processes` in a fresh database and time the cold, warm and one-DAG parses: each kind
    `repeat` times, the median kept (by wall time), since one slow round (a checkpoint of the database
    just filled, another process) would otherwise decide a figure."""
    url = server.fresh_database("bench")
    register(url, processes)
    import psycopg2

    connection = psycopg2.connect(url)  # what autovacuum would otherwise do in the middle of the timings
    connection.autocommit = True
    connection.cursor().execute("VACUUM ANALYZE")
    connection.close()
    state = folder / f"state-{processes}"
    env = {**os.environ, "LLF_CONTROL_DB_URL": url, "LLF_NOTEBOOKS_DIR": str(folder / "notebooks"),
           "LLF_STATE_DIR": str(state), "LLF_SNAPSHOT_REFRESH_SECONDS": "3600",
           "PYTHONPATH": str(ROOT), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}

    def profile(kind: str) -> Path | None:
        return profiles / f"{processes}-{kind}.pstats" if profiles else None

    def cold() -> dict:
        shutil.rmtree(state, ignore_errors=True)  # no cache: the parse refreshes
        return parse(env, profile("cold"))

    results = {"cold": median(cold, repeat)}
    results["warm"] = median(lambda: parse(env, profile("warm")), repeat)
    results["one"] = median(lambda: parse(env, None, "process__bench_p000001"), repeat)
    results["refresh"] = median(lambda: refresh(env), repeat)
    for cache in ("stale", "none"):
        results[f"task {cache}"] = median(lambda c=cache: task_starts(env, state, 1, c), repeat)
        results[f"tasks {cache}"] = median(lambda c=cache: task_starts(env, state, concurrent, c), repeat)
    return results


def median(measured: Callable[[], dict], repeat: int) -> dict:
    """The median round of `repeat` (by wall time), with the spread of all rounds."""
    rounds = sorted((measured() for _ in range(repeat)), key=lambda r: r["seconds"])
    return {**rounds[len(rounds) // 2], "spread": (rounds[0]["seconds"], rounds[-1]["seconds"])}


def refresh(env: dict[str, str]) -> dict:
    """The refresh alone, as the background process or a command runs it (DB read + validation + cache write)."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    child = subprocess.run([sys.executable, "-m", "llf.dagbuild.refresh"], env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode:
        sys.exit(f"the refresh failed:\n{child.stderr}")
    return {"seconds": time.perf_counter() - started, "cpu": after.ru_utime + after.ru_stime - before.ru_utime
            - before.ru_stime, "load": os.getloadavg()[0], "errors": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1000])
    parser.add_argument("--profile", type=Path, help="write cProfile files of the cold and warm parses here")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each kind; the median is printed")
    parser.add_argument("--task-starts", type=int, default=4, help="task-start parses at once")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    from llf.local.postgres import EmbeddedPostgres
    from tests.support.notebooks import write_notebook

    table = []
    with tempfile.TemporaryDirectory(prefix="llf-bench-") as scratch:
        folder = Path(scratch)
        server = EmbeddedPostgres(folder / "pgdata")
        try:
            server.create_template()  # the control schema, applied by llf's own migrations
            write_notebooks(folder / "notebooks", max(args.processes), write_notebook)
            for processes in args.processes:
                results = measure(server, folder, processes, args.profile, args.repeat, args.task_starts)
                warm, one = results["warm"], results["one"]
                print(f"registered: {processes} processes in {max(1, processes // 10)} streams")
                print(f"dags: {warm['dags']} ({warm['tasks']} tasks), import errors: {warm['errors']}")
                expected = processes + max(1, processes // 10)
                if warm["dags"] != expected:  # placeholders: the figures would time a stream-less parse
                    sys.exit(f"expected {expected} DAGs, the parse built {warm['dags']}: streams were invalid")
                print(figure(f"cold parse, no cache ({results['cold']['dags']} DAGs)", results["cold"], processes))
                print(f"one DAG under get_parsing_context(): {one['seconds']:.3f} s ({one['dags']} DAG, "
                      f"load {one['load']:.2f})")
                print(figure("refresh alone, python -m llf.dagbuild.refresh (interpreter start included)",
                             results["refresh"], processes))
                print(figure(f"parse {processes} processes", warm, processes))
                for cache in ("stale", "none"):
                    print(task_figure(f"task start, {cache} cache, 1 parse", results[f"task {cache}"]))
                    print(task_figure(f"task start, {cache} cache, {args.task_starts} at once",
                                      results[f"tasks {cache}"]), flush=True)
                table.append((processes, results))
        finally:
            server.stop()
    if len(table) > 1:
        print("\n| processes | cold s (cpu) | refresh s (cpu) | warm s (cpu) | warm cpu ms/process | load |")
        print("|---|---|---|---|---|---|")
        for processes, r in table:
            print(f"| {processes} | {r['cold']['seconds']:.2f} ({r['cold']['cpu']:.2f}) | "
                  f"{r['refresh']['seconds']:.2f} ({r['refresh']['cpu']:.2f}) | "
                  f"{r['warm']['seconds']:.2f} ({r['warm']['cpu']:.2f}) | "
                  f"{1000 * r['warm']['cpu'] / processes:.3f} | {r['warm']['load']:.2f} |")


if __name__ == "__main__":
    main()
