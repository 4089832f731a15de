"""What the Airflow benchmarks share (bench/overhead.py, bench/throughput.py): one bench stack on an embedded
PostgreSQL, timed DAG runs whose failures are reported instead of fatal, alternating rounds, and figures
printed beside the load average.

The machine these run on is shared (the chaos soak, other checkouts), so no single run is a verdict: every
round is printed with the load average, and a run that fails is a finding to show (which task, why, from
Airflow's task instances and the tail of the task's log), not a reason to throw away the rounds before it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

from llf.airflow_api import AirflowClient, poll  # noqa: E402
from llf.local.airflow import AirflowStack  # noqa: E402
from llf.local.celery import CeleryExecution, CeleryWorker  # noqa: E402
from llf.local.postgres import EmbeddedPostgres, with_database  # noqa: E402

METADATA_DATABASE = "airflow_bench"
RUN_TIMEOUT = 300  # a 5x10 overhead run takes about 100 s at load 15
FIRST_DATE = dt.date(2026, 1, 1)
LOG_TAIL_LINES = 6
# What a failed task instance is: the ones Airflow ran and failed, and the ones it never ran because of them.
# "zmq.error.ZMQError: Address already in use", "RuntimeError: Kernel died": a traceback's last line
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout|Exit|Interrupt)\b.*")


def load() -> str:
    """The load average (1, 5, 15 min): the machine is shared, so every figure is printed beside it."""
    return "load " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def spread(figures: list[float]) -> str:
    """The median, and the spread around it, of one measurement's rounds."""
    if not figures:
        return "no successful round"
    return f"{statistics.median(figures):.1f} s (min {min(figures):.1f}, max {max(figures):.1f})"


def ratio(numerators: list[float], denominators: list[float]) -> float:
    """The ratio of two measurements' medians (NaN when either has no successful round)."""
    if not numerators or not denominators:
        return float("nan")
    return statistics.median(numerators) / statistics.median(denominators)


@dataclass(frozen=True)
class TimedRun:
    """One DAG run, from the REST trigger until it was seen finished (state `timeout` when it never was)."""

    dag_id: str
    run_id: str
    seconds: float
    state: str

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


def timed(api: AirflowClient, dag_id: str, conf: dict | None = None) -> TimedRun:
    """Trigger `dag_id` and poll it every 0.2 s until it ends; a failed run is returned, not raised."""
    started = time.perf_counter()
    run_id = api.trigger(dag_id, conf)
    state = poll(lambda: _final(api, dag_id, run_id), timeout=RUN_TIMEOUT, interval=0.2)
    return TimedRun(dag_id, run_id, time.perf_counter() - started, state or "timeout")


def _final(api: AirflowClient, dag_id: str, run_id: str) -> str | None:
    state = api.run(dag_id, run_id)["state"]
    return state if state in ("success", "failed") else None


def business_date(index: int) -> dict[str, str]:
    """The conf of an llf run on a business date of its own, so nothing is SKIPPED as already done."""
    return {"business_date": (FIRST_DATE + dt.timedelta(days=index)).isoformat()}


def reported(stack: AirflowStack, run: TimedRun, why: str = "") -> float | None:
    """The run's seconds, or None after printing why it failed (`why`: a failure the caller saw besides
    Airflow's): a failed run is a finding to count, not the end of the bench."""
    if run.succeeded and not why:
        return run.seconds
    print(failure_report(stack, run) + (f"\n  {why}" if why else ""), flush=True)
    if run.state == "timeout":
        stop_run(stack.client(), run)
    return None


def stop_run(api: AirflowClient, run: TimedRun) -> None:
    """Mark a run that never ended failed (Airflow stops its running tasks), so that a hung task (papermill
    waiting on a kernel that never started) does not hold a slot through the rounds after it."""
    api.http.patch(f"/dags/{run.dag_id}/dagRuns/{run.run_id}", json={"state": "failed"}).raise_for_status()


def measured_alternating(repeat: int, *measures: Callable[[int], float | None]) -> list[list[float]]:
    """Warm up each measurement once (index 0), then `repeat` rounds taking one of each in turn; each
    measurement's figures from the rounds where every measurement succeeded (a measure returns None when its
    run failed, having said why): the medians then compare runs made side by side, not one side's quiet
    rounds with the other's busy ones. The order flips every round, so neither side always runs right after
    the other. Prints every round, since single runs vary by seconds on a shared machine, and the failures.
    """
    for measure in measures:
        measure(0)
    rounds: list[list[float | None]] = []
    for index in range(1, repeat + 1):
        order = list(enumerate(measures))[:: 1 if index % 2 else -1]
        figures = {position: measure(index) for position, measure in order}
        rounds.append([figures[position] for position in range(len(measures))])
        shown = ", ".join("FAILED" if seconds is None else f"{seconds:.1f} s" for seconds in rounds[-1])
        print(f"round {index}: {shown} ({load()})", flush=True)
    failed = [sum(figures[position] is None for figures in rounds) for position in range(len(measures))]
    complete = [figures for figures in rounds if None not in figures]
    if any(failed):
        print(f"failed runs per measurement, in order: {failed} of {repeat}; figures below from the "
              f"{len(complete)} round(s) where all succeeded", flush=True)
    return [[float(figures[position] or 0) for figures in complete] for position in range(len(measures))]


def failure_report(stack: AirflowStack, run: TimedRun) -> str:
    """Which tasks of a failed run failed and why: each failed task instance with the tail of its log's
    errors (else warnings) and what the scheduler said of it (a task killed for a missed heartbeat on a busy
    machine leaves nothing in its own log); tasks left upstream_failed are counted; a run that never ended
    lists what still ran and counts what never started."""
    instances = stack.client().task_instances(run.dag_id, run.run_id)
    logs = stack.home / "logs"
    lines = [f"{run.dag_id}/{run.run_id} ended {run.state} after {run.seconds:.1f} s ({load()})"]
    for ti in instances:
        unfinished = ti["start_date"] and ti["state"] not in ("success", "skipped")
        if ti["state"] == "failed" or (run.state == "timeout" and unfinished):
            lines.append(f"  task {ti['task_id']} {ti['state']} (try {ti['try_number']}, host {ti.get('hostname')}, "
                         f"{ti.get('duration') or 0:.1f} s)")
            attempt = (logs / f"dag_id={run.dag_id}" / f"run_id={run.run_id}" / f"task_id={ti['task_id']}"
                       / f"attempt={ti['try_number']}.log")
            lines.extend(f"    | {line}" for line in log_tail(attempt))
            lines.extend(f"    | scheduler: {line}" for line in
                         scheduler_notes(stack.logs_dir / "scheduler.log", run.run_id, ti["task_id"]))
    blocked = sum(ti["state"] == "upstream_failed" for ti in instances)
    if blocked:
        lines.append(f"  {blocked} task(s) upstream_failed, never started")
    waiting = sum(not ti["start_date"] and ti["state"] != "upstream_failed" for ti in instances)
    if run.state == "timeout" and waiting:
        lines.append(f"  {waiting} task(s) never started (states: "
                     f"{sorted({str(ti['state']) for ti in instances if not ti['start_date']})})")
    return "\n".join(lines)


def log_tail(path: Path) -> list[str]:
    """Why a task attempt failed, from its log file (Airflow 3 writes JSON lines): every distinct exception
    line it logged, in order (a kernel's stderr traceback comes long before the task's own failure, and the
    first one is often the cause), else its last errors, warnings or lines. The workers of a bench stack
    write into the stack's log folder, so it is read from disk."""
    if not path.exists():
        return [f"(no log at {path})"]
    entries = [_entry(line) for line in path.read_text(errors="replace").splitlines() if line.strip()]
    errors = [text for level, text in entries if level in ("error", "critical")]
    exceptions = list(dict.fromkeys(text.strip() for text in errors if EXCEPTION_LINE.match(text.strip())))
    warnings = [text for level, text in entries if level == "warning"]
    return (exceptions or errors or warnings or [text for _, text in entries])[-LOG_TAIL_LINES:]


def scheduler_notes(path: Path, run_id: str, task_id: str) -> list[str]:
    """The scheduler's last warnings and errors naming the task of this run (its own log is plain text)."""
    if not path.exists():
        return []
    notes = [line.strip()[:300] for line in path.read_text(errors="replace").splitlines()
             if run_id in line and task_id in line and ("warn" in line.lower() or "error" in line.lower())]
    return notes[-3:]


def _entry(line: str) -> tuple[str, str]:
    """(level, one-line text) of a log line, structured or not."""
    try:
        record = json.loads(line)
    except ValueError:
        return "", line[:300]
    if not isinstance(record, dict):
        return "", line[:300]
    text = str(record.get("event", ""))
    details = record.get("error_detail")
    if isinstance(details, list) and details:
        last = details[-1]
        text += f" [{last.get('exc_type')}: {last.get('exc_value')}]" if isinstance(last, dict) else ""
    return str(record.get("level", "")).lower(), text.replace("\n", " ")[:300]


def _seconds(later: str | None, earlier: str | None) -> float:
    if later is None or earlier is None:
        return float("nan")
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()


def timeline(api: AirflowClient, dag_id: str, run_id: str) -> list[str]:
    """One line per task that ran: start and end in seconds after the DAG run started, and its worker, in
    start order."""
    run = api.run(dag_id, run_id)
    ran = sorted((ti for ti in api.task_instances(dag_id, run_id) if ti["start_date"]),
                 key=lambda ti: ti["start_date"])
    lines = [f"  {ti['task_id']:<40} {_seconds(ti['start_date'], run['start_date']):5.1f} -> "
             f"{_seconds(ti['end_date'], run['start_date']):5.1f} s  {ti.get('hostname') or ''}" for ti in ran]
    return [*lines, f"  {'(run ends)':<40} {_seconds(run['end_date'], run['start_date']):14.1f} s"]


def notebook_seconds(sql: Callable, stream_run_id: str) -> float:
    """Mean RUNNING -> SUCCESS time of a stream run's processes: papermill, HTML and lake."""
    ((mean,),) = sql("SELECT avg(extract(epoch FROM end_ts - start_ts)) FROM cntl_af.cntl_cfg_log "
                     "WHERE strem_run_id = %s AND prcs_nm IS NOT NULL AND status = 'SUCCESS'", (stream_run_id,))
    return float("nan") if mean is None else float(mean)


def add_executor_arguments(parser: argparse.ArgumentParser, workers: int, concurrency: int) -> None:
    """--executor {local,celery}, --workers N, --worker-concurrency C (the Celery side's shape)."""
    parser.add_argument("--executor", choices=("local", "celery"), default="local",
                        help="LocalExecutor, or CeleryExecutor with a redis broker and --workers workers")
    parser.add_argument("--workers", type=int, default=workers,
                        help=f"Celery workers, all serving the default queue (default {workers})")
    parser.add_argument("--worker-concurrency", type=int, default=concurrency,
                        help=f"task slots of each Celery worker (default {concurrency})")


def default_workers(count: int, concurrency: int) -> tuple[CeleryWorker, ...]:
    """`count` workers serving the default queue, each with host name bench-worker-<i>."""
    return tuple(CeleryWorker(hostname=f"bench-worker-{index}", queues="default", concurrency=concurrency)
                 for index in range(1, count + 1))


@dataclass(frozen=True)
class BenchSetup:
    """What a bench stack runs on: its work folder, PostgreSQL, control database and notebooks folder."""

    work: Path
    postgres: EmbeddedPostgres
    control_url: str
    notebooks: Path


@contextmanager
def bench_folder(prefix: str, keep: bool) -> Iterator[BenchSetup]:
    """A work folder with an embedded PostgreSQL holding a fresh control database; removed on leaving
    unless `keep` (then printed: the Airflow task logs are under airflow-home/logs)."""
    work = Path(tempfile.mkdtemp(prefix=f"llf-bench-{prefix}-"))
    postgres = EmbeddedPostgres(work / "pgdata")
    try:
        postgres.create_template()
        control_url = postgres.fresh_database(prefix="bench")
        postgres.execute_admin(f"CREATE DATABASE {METADATA_DATABASE}")
        (work / "notebooks").mkdir()
        yield BenchSetup(work, postgres, control_url, work / "notebooks")
    finally:
        postgres.stop()
        if keep:
            print(f"kept {work} (task logs under airflow-home/logs)")
        else:
            shutil.rmtree(work, ignore_errors=True)


@contextmanager
def bench_stack(setup: BenchSetup, dags_folders: Mapping[str, Path], workers: tuple[CeleryWorker, ...] = (),
                extra_env: Mapping[str, str] | None = None) -> Iterator[AirflowStack]:
    """A real Airflow (scheduler, dag-processor, triggerer, api-server) on the bench's PostgreSQL serving
    `dags_folders`: LocalExecutor, or CeleryExecutor with these workers (a redis-server broker, results in a
    database of their own login, as tests/e2e/test_celery.py starts one). Stopped on leaving."""
    celery = None
    if workers:
        result_backend = "db+" + setup.postgres.owned_database("bench_celery_results", "llf_celery").replace(
            "postgresql://", "postgresql+psycopg2://", 1)
        celery = CeleryExecution(result_backend, workers)
    stack = AirflowStack(
        home=setup.work / "airflow-home",
        metadata_db_url=with_database(setup.postgres.admin_url, METADATA_DATABASE).replace(
            "postgresql://", "postgresql+psycopg2://", 1),
        dags_folders=dags_folders,
        extra_env={"PYTHONPATH": str(ROOT), "LLF_CONTROL_DB_URL": setup.control_url,
                   "LLF_NOTEBOOK_DB_URL": setup.postgres.notebook_url(setup.control_url),
                   "LLF_NOTEBOOKS_DIR": str(setup.notebooks), "LLF_LAKE_URL": (setup.work / "lake").as_uri(),
                   "LLF_SNAPSHOT_REFRESH_SECONDS": "2", **(extra_env or {})},
        celery=celery,
    )
    started = time.monotonic()
    stack.start()
    try:
        executor = f"CeleryExecutor, {describe_workers(workers)}" if workers else "LocalExecutor"
        print(f"Airflow up in {time.monotonic() - started:.0f} s on {executor} ({load()})", flush=True)
        yield stack
    finally:
        stack.stop()


def describe_workers(workers: tuple[CeleryWorker, ...]) -> str:
    return f"{len(workers)} worker(s): " + ", ".join(
        f"{worker.hostname} [{worker.queues}] x{worker.concurrency}" for worker in workers)
