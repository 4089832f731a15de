"""What llf costs on top of plain Airflow + papermill, measured on one running Airflow.

    .venv/bin/python bench/overhead.py [--repeat 5] [--stream-size 5x10 --max-parallel 4]

Starts an embedded PostgreSQL and a real Airflow (scheduler, dag-processor, triggerer, api-server;
LocalExecutor) serving two DAG folders: the project's `dags/` and a temporary folder holding a
hand-written DAG. Both run the same G groups x N trivial notebooks (--stream-size, 3x3 by default):
  (a) the llf stream: G process groups, max_parallel M, each process run by its stream task;
  (b) the hand-written DAG: G TaskGroups in a chain, one PythonOperator running papermill per notebook,
      at most M at a time (the DAG's max_active_tasks);
  (c) one process DAG run (triggered by hand) vs the bare `papermill` CLI on the same notebook.
Every kind is warmed up once, then timed in --repeat rounds (wall time from the REST trigger until the
run is seen finished, polled every 0.2 s). (a) and (b) alternate, and so do the two sides of (c), so a
change in the machine's load (it is shared) weighs on both alike. Each llf run uses a fresh business
date, so nothing is SKIPPED as already done. Prints every round with the load average, the medians with
their spread (min-max), then the timeline of the last llf and hand-written runs (from Airflow's task
instances) to show where the difference goes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

from llf.airflow_api import AirflowClient, poll  # noqa: E402
from llf.local.airflow import AirflowStack  # noqa: E402
from llf.local.postgres import EmbeddedPostgres, with_database  # noqa: E402
from tests.support.notebooks import write_notebook  # noqa: E402
from tests.support.registry import Registry, sql_runner  # noqa: E402

STREAM = "bench_overhead"
HANDWRITTEN = "bench_handwritten"
NOTEBOOK = "trivial.ipynb"
FIRST_DATE = dt.date(2026, 1, 1)

HANDWRITTEN_DAG = '''
"""The baseline: what a user would write by hand for {groups} groups x {per_group} notebooks."""
import tempfile
from pathlib import Path

import papermill
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, TaskGroup


def run_notebook(notebook: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        papermill.execute_notebook(notebook, str(Path(scratch) / "out.ipynb"), kernel_name="python3",
                                   progress_bar=False, parameters={{"greeting": "bench"}})


with DAG("{dag_id}", schedule=None, catchup=False, max_active_tasks={max_parallel}) as dag:
    previous = None
    for group in range({groups}):
        with TaskGroup(f"g{{group}}") as task_group:
            for position in range({per_group}):
                PythonOperator(task_id=f"p{{position}}", python_callable=run_notebook,
                               op_kwargs={{"notebook": "{notebook}"}})
        if previous is not None:
            previous >> task_group
        previous = task_group
'''


def process_name(group: int, position: int) -> str:
    return f"{STREAM}_g{group}_p{position}"


def register_stream(registry: Registry, groups: int, per_group: int, max_parallel: int) -> None:
    stream_id = registry.stream(STREAM)
    for group in range(groups):
        group_id = registry.group(stream_id, f"{STREAM}_g{group}", priority=group + 1, max_parallel=max_parallel)
        for position in range(per_group):
            registry.process(group_id, process_name(group, position), priority=position + 1, notebook=NOTEBOOK)


def timed(api: AirflowClient, dag_id: str, conf: dict | None = None) -> tuple[float, str]:
    """(wall seconds from trigger to seen-finished, run id); raises when the run did not succeed."""
    started = time.perf_counter()
    run_id = api.trigger(dag_id, conf)
    state = poll(lambda: _final(api, dag_id, run_id), timeout=600, interval=0.2)
    elapsed = time.perf_counter() - started
    if state != "success":
        raise SystemExit(f"{dag_id}/{run_id} ended {state}: {api.task_instances(dag_id, run_id)}")
    return elapsed, run_id


def _final(api: AirflowClient, dag_id: str, run_id: str) -> str | None:
    state = api.run(dag_id, run_id)["state"]
    return state if state in ("success", "failed") else None


def papermill_cli(notebook: Path, scratch: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("papermill")), str(notebook), str(scratch / "out.ipynb"),
                    "-k", "python3", "--no-progress-bar", "-p", "greeting", "bench"],
                   check=True, capture_output=True, cwd=notebook.parent)
    return time.perf_counter() - started


def load() -> str:
    """The load average (1, 5, 15 min): the machine is shared, so every figure is printed beside it."""
    return "load " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def measured_alternating(repeat: int, *measures: Callable[[int], float]) -> list[list[float]]:
    """Warm up each measurement once (index 0), then `repeat` rounds taking one of each in turn; each
    measurement's figures. The order flips every round, so neither side always runs right after the
    other. Prints every round, since single runs vary by seconds on a shared machine.
    """
    for measure in measures:
        measure(0)
    rounds = []
    for index in range(1, repeat + 1):
        order = list(enumerate(measures))[:: 1 if index % 2 else -1]
        figures = dict((position, measure(index)) for position, measure in order)
        rounds.append([figures[position] for position in range(len(measures))])
        print(f"round {index}: " + ", ".join(f"{seconds:.1f} s" for seconds in rounds[-1]) + f" ({load()})",
              flush=True)
    return [list(column) for column in zip(*rounds, strict=True)]


def spread(figures: list[float]) -> str:
    """The median, and the spread around it, of one measurement's rounds."""
    return f"{statistics.median(figures):.1f} s (min {min(figures):.1f}, max {max(figures):.1f})"


def ratio(numerators: list[float], denominators: list[float]) -> float:
    return statistics.median(numerators) / statistics.median(denominators)


def stream_size(text: str) -> tuple[int, int]:
    """GxN: G groups of N notebooks."""
    groups, _, per_group = text.lower().partition("x")
    if not (groups.isdigit() and per_group.isdigit() and int(groups) > 0 and int(per_group) > 0):
        raise argparse.ArgumentTypeError(f"expected GxN such as 3x3 or 5x10, got {text!r}")
    return int(groups), int(per_group)


def _seconds(later: str | None, earlier: str | None) -> float:
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()


def timeline(api: AirflowClient, dag_id: str, run_id: str) -> list[str]:
    """One line per task that ran: start and end in seconds after the DAG run started, in start order."""
    run = api.run(dag_id, run_id)
    ran = sorted((ti for ti in api.task_instances(dag_id, run_id) if ti["start_date"]),
                 key=lambda ti: ti["start_date"])
    lines = [f"  {ti['task_id']:<40} {_seconds(ti['start_date'], run['start_date']):5.1f} -> "
             f"{_seconds(ti['end_date'], run['start_date']):5.1f} s" for ti in ran]
    return [*lines, f"  {'(run ends)':<40} {_seconds(run['end_date'], run['start_date']):14.1f} s"]


def notebook_seconds(sql: Callable, stream_run_id: str) -> float:
    """Mean RUNNING -> SUCCESS time of the stream run's processes: papermill, HTML and lake."""
    ((mean,),) = sql("SELECT avg(extract(epoch FROM end_ts - start_ts)) FROM cntl_af.cntl_cfg_log "
                     "WHERE strem_run_id = %s AND prcs_nm IS NOT NULL AND status = 'SUCCESS'", (stream_run_id,))
    return float(mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds of each kind after the warm-up")
    parser.add_argument("--stream-size", type=stream_size, default=(3, 3), metavar="GxN",
                        help="G groups of N notebooks, such as 5x10 (default 3x3)")
    parser.add_argument("--max-parallel", type=int, default=None,
                        help="notebooks of a group at once, in both DAGs (default: N, at most 4)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (Airflow task logs) and print it")
    args = parser.parse_args()
    groups, per_group = args.stream_size
    max_parallel = args.max_parallel or min(per_group, 4)

    work = Path(tempfile.mkdtemp(prefix="llf-bench-overhead-"))
    notebooks, handwritten = work / "notebooks", work / "handwritten-dags"
    notebook = write_notebook(notebooks / NOTEBOOK, "message = f'{greeting}, world'")
    handwritten.mkdir()
    (handwritten / f"{HANDWRITTEN}.py").write_text(HANDWRITTEN_DAG.format(
        dag_id=HANDWRITTEN, groups=groups, per_group=per_group, max_parallel=max_parallel, notebook=notebook))

    postgres = EmbeddedPostgres(work / "pgdata")
    stack = None
    try:
        postgres.create_template()
        control_url = postgres.fresh_database(prefix="bench")
        postgres.execute_admin("CREATE DATABASE airflow_bench")
        with sql_runner(control_url) as sql:
            register_stream(Registry(sql), groups, per_group, max_parallel)
            stack = _start_airflow(work, postgres, control_url, notebooks, handwritten)
            _measure(stack.client(), sql, notebook, work, args.repeat,
                     f"{groups} groups x {per_group} notebooks, max_parallel {max_parallel}")
    finally:
        if stack is not None:
            stack.stop()
        postgres.stop()
        if args.keep:
            print(f"kept {work} (task logs under airflow-home/logs)")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _start_airflow(work: Path, postgres: EmbeddedPostgres, control_url: str, notebooks: Path,
                   handwritten: Path) -> AirflowStack:
    """Airflow serving the llf DAGs and the hand-written one, with every DAG the benchmark runs parsed."""
    stack = AirflowStack(
        home=work / "airflow-home",
        metadata_db_url=with_database(postgres.admin_url, "airflow_bench").replace(
            "postgresql://", "postgresql+psycopg2://", 1),
        dags_folders={"llf": ROOT / "dags", "handwritten": handwritten},
        extra_env={"PYTHONPATH": str(ROOT), "LLF_CONTROL_DB_URL": control_url,
                   "LLF_NOTEBOOK_DB_URL": postgres.notebook_url(control_url),
                   "LLF_NOTEBOOKS_DIR": str(notebooks), "LLF_LAKE_URL": (work / "lake").as_uri(),
                   "LLF_SNAPSHOT_REFRESH_SECONDS": "2"},
    )
    stack.start()
    api = stack.client()
    for dag_id in (f"stream__{STREAM}", HANDWRITTEN, f"process__{process_name(0, 0)}"):
        api.wait_for_dag(dag_id, timeout=120)
    return stack


def _measure(api: AirflowClient, sql: Callable, notebook: Path, work: Path, repeat: int, size: str) -> None:
    """Time (a) against (b), then (c), in alternating rounds; print the figures and the last timelines."""
    stream_runs: list[str] = []
    handwritten_runs: list[str] = []

    def stream_once(index: int) -> float:
        conf = {"business_date": (FIRST_DATE + dt.timedelta(days=index)).isoformat()}
        elapsed, run_id = timed(api, f"stream__{STREAM}", conf)
        # the figure counts until the run is seen finished: by then the stream's log row must be closed
        row = sql("SELECT status FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND run_id = %s "
                  "AND prcs_nm IS NULL AND end_ts IS NOT NULL", (STREAM, run_id))
        if row != [("SUCCESS",)]:
            raise SystemExit(f"stream row of {run_id} not closed SUCCESS when the run ended: {row}")
        stream_runs.append(run_id)
        return elapsed

    def handwritten_once(_index: int) -> float:
        elapsed, run_id = timed(api, HANDWRITTEN)
        handwritten_runs.append(run_id)
        return elapsed

    def process_once(index: int) -> float:
        conf = {"business_date": (FIRST_DATE + dt.timedelta(days=1000 + index)).isoformat()}
        return timed(api, f"process__{process_name(0, 0)}", conf)[0]

    llf_stream, handwritten_dag = measured_alternating(repeat, stream_once, handwritten_once)
    print(f"(a) llf stream, {size}: {spread(llf_stream)}")
    print(f"(b) hand-written DAG, same groups, PythonOperator + papermill: {spread(handwritten_dag)}")
    print(f"ratio a/b: {ratio(llf_stream, handwritten_dag):.2f} (goal <= 1.0; {load()})")
    process_run, bare_papermill = measured_alternating(repeat, process_once,
                                                       lambda _i: papermill_cli(notebook, work))
    print(f"(c) one process DAG run: {spread(process_run)}")
    print(f"(c) bare papermill CLI, same notebook: {spread(bare_papermill)}")
    print(f"ratio process/papermill: {ratio(process_run, bare_papermill):.2f} (goal <= 1.0; {load()})")
    print("where the time goes, last timed runs (seconds after each DAG run started):")
    print(f"llf stream (process runs RUNNING -> SUCCESS: mean {notebook_seconds(sql, stream_runs[-1]):.1f} s)")
    print("\n".join(timeline(api, f"stream__{STREAM}", stream_runs[-1])))
    print("hand-written DAG")
    print("\n".join(timeline(api, HANDWRITTEN, handwritten_runs[-1])))


if __name__ == "__main__":
    main()
