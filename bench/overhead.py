"""What llf costs on top of plain Airflow + papermill, measured on one running Airflow.

    .venv/bin/python bench/overhead.py [--repeat 5] [--stream-size 5x10 --max-parallel 4]
    .venv/bin/python bench/overhead.py --executor celery [--workers 2 --worker-concurrency 4]

Starts an embedded PostgreSQL and a real Airflow (scheduler, dag-processor, triggerer, api-server;
LocalExecutor, or with --executor celery CeleryExecutor: a redis-server broker and --workers
`airflow celery worker`s of --worker-concurrency slots each, all serving the default queue, so both sides
run on the same workers) serving two DAG folders: the project's `dags/` and a temporary folder holding a
hand-written DAG. Both run the same G groups x N trivial notebooks (--stream-size, 3x3 by default):
  (a) the llf stream: G process groups, max_parallel M, each process run by its stream task;
  (b) the hand-written DAG: G TaskGroups in a chain, one PythonOperator running papermill per notebook,
      at most M at a time (the DAG's max_active_tasks);
  (c) one process DAG run (triggered by hand) vs the bare `papermill` CLI on the same notebook.
Every kind is warmed up once, then timed in --repeat rounds (wall time from the REST trigger until the
run is seen finished, polled every 0.2 s). (a) and (b) alternate, and so do the two sides of (c), so a
change in the machine's load (it is shared) weighs on both alike. Each llf run uses a fresh business
date, so nothing is SKIPPED as already done. A run that fails is reported (which task, why: Airflow's task
instances and the tail of the task's log) and counted, and the rounds go on; the medians are of the runs
that succeeded. Prints every round with the load average, the medians with their spread (min-max), then the
timeline of the last llf and hand-written runs (from Airflow's task instances) to show where the time goes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    BenchSetup,
    TimedRun,
    add_executor_arguments,
    bench_folder,
    bench_stack,
    business_date,
    default_workers,
    load,
    measured_alternating,
    notebook_seconds,
    ratio,
    reported,
    spread,
    timed,
    timeline,
)
from llf.airflow_api import AirflowClient
from llf.local.airflow import AirflowStack
from tests.support.notebooks import write_notebook
from tests.support.registry import Registry, sql_runner

STREAM = "bench_overhead"
HANDWRITTEN = "bench_handwritten"
NOTEBOOK = "trivial.ipynb"

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


def papermill_cli(notebook: Path, scratch: Path) -> float | None:
    """Seconds of the bare `papermill` CLI on the notebook, or None after printing why it failed."""
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("papermill")), str(notebook), str(scratch / "out.ipynb"),
                           "-k", "python3", "--no-progress-bar", "-p", "greeting", "bench"],
                          capture_output=True, text=True, cwd=notebook.parent, check=False)
    if done.returncode != 0:
        print(f"papermill CLI exited {done.returncode} ({load()}):\n{done.stderr[-2000:]}", flush=True)
        return None
    return time.perf_counter() - started


def stream_size(text: str) -> tuple[int, int]:
    """GxN: G groups of N notebooks."""
    groups, _, per_group = text.lower().partition("x")
    if not (groups.isdigit() and per_group.isdigit() and int(groups) > 0 and int(per_group) > 0):
        raise argparse.ArgumentTypeError(f"expected GxN such as 3x3 or 5x10, got {text!r}")
    return int(groups), int(per_group)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds of each kind after the warm-up")
    parser.add_argument("--stream-size", type=stream_size, default=(3, 3), metavar="GxN",
                        help="G groups of N notebooks, such as 5x10 (default 3x3)")
    parser.add_argument("--max-parallel", type=int, default=None,
                        help="notebooks of a group at once, in both DAGs (default: N, at most 4)")
    # 2 x 4 slots: the LocalExecutor side's [core] parallelism (8) spread over two workers
    add_executor_arguments(parser, workers=2, concurrency=4)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (Airflow task logs) and print it")
    args = parser.parse_args()
    groups, per_group = args.stream_size
    max_parallel = args.max_parallel or min(per_group, 4)
    workers = default_workers(args.workers, args.worker_concurrency) if args.executor == "celery" else ()

    with bench_folder("overhead", args.keep) as setup, sql_runner(setup.control_url) as sql:
        notebook = write_notebook(setup.notebooks / NOTEBOOK, "message = f'{greeting}, world'")
        handwritten = setup.work / "handwritten-dags"
        handwritten.mkdir()
        (handwritten / f"{HANDWRITTEN}.py").write_text(HANDWRITTEN_DAG.format(
            dag_id=HANDWRITTEN, groups=groups, per_group=per_group, max_parallel=max_parallel, notebook=notebook))
        register_stream(Registry(sql), groups, per_group, max_parallel)
        with bench_stack(setup, {"llf": ROOT / "dags", "handwritten": handwritten}, workers) as stack:
            api = stack.client()
            for dag_id in (f"stream__{STREAM}", HANDWRITTEN, f"process__{process_name(0, 0)}"):
                api.wait_for_dag(dag_id, timeout=120)
            _measure(stack, sql, setup, args.repeat,
                     f"{groups} groups x {per_group} notebooks, max_parallel {max_parallel}, {args.executor}")


def _measure(stack: AirflowStack, sql: Callable, setup: BenchSetup, repeat: int, size: str) -> None:
    """Time (a) against (b), then (c), in alternating rounds; print the figures and the last timelines."""
    api = stack.client()
    ran: dict[str, list[str]] = {f"stream__{STREAM}": [], HANDWRITTEN: []}

    def figure(run: TimedRun, why: str = "") -> float | None:
        seconds = reported(stack, run, why)
        if seconds is not None:
            ran.setdefault(run.dag_id, []).append(run.run_id)
        return seconds

    def stream_once(index: int) -> float | None:
        run = timed(api, f"stream__{STREAM}", business_date(index))
        # the figure counts until the run is seen finished: by then the stream's log row must be closed
        row = sql("SELECT status FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND run_id = %s "
                  "AND prcs_nm IS NULL AND end_ts IS NOT NULL", (STREAM, run.run_id))
        return figure(run, "" if row == [("SUCCESS",)] or not run.succeeded
                      else f"stream row not closed SUCCESS when the run ended: {row}")

    def process_once(index: int) -> float | None:
        return figure(timed(api, f"process__{process_name(0, 0)}", business_date(1000 + index)))

    llf_stream, handwritten_dag = measured_alternating(repeat, stream_once, lambda _i: figure(timed(api, HANDWRITTEN)))
    print(f"(a) llf stream, {size}: {spread(llf_stream)}")
    print(f"(b) hand-written DAG, same groups, PythonOperator + papermill: {spread(handwritten_dag)}")
    print(f"ratio a/b: {ratio(llf_stream, handwritten_dag):.2f} (goal <= 1.0; {load()})")
    notebook = setup.notebooks / NOTEBOOK
    process_run, bare_papermill = measured_alternating(repeat, process_once,
                                                       lambda _i: papermill_cli(notebook, setup.work))
    print(f"(c) one process DAG run: {spread(process_run)}")
    print(f"(c) bare papermill CLI, same notebook: {spread(bare_papermill)}")
    print(f"ratio process/papermill: {ratio(process_run, bare_papermill):.2f} (goal <= 1.0; {load()})")
    _print_timelines(api, sql, ran)


def _print_timelines(api: AirflowClient, sql: Callable, ran: dict[str, list[str]]) -> None:
    """Where the time goes: the last successful run of each side, task by task."""
    print("where the time goes, last timed runs (seconds after each DAG run started):")
    for dag_id, label in ((f"stream__{STREAM}", "llf stream"), (HANDWRITTEN, "hand-written DAG")):
        if not ran[dag_id]:
            print(f"{label}: no successful run")
            continue
        extra = (f" (process runs RUNNING -> SUCCESS: mean {notebook_seconds(sql, ran[dag_id][-1]):.1f} s)"
                 if dag_id != HANDWRITTEN else "")
        print(label + extra)
        print("\n".join(timeline(api, dag_id, ran[dag_id][-1])))


if __name__ == "__main__":
    main()
