"""Throughput scales with Celery workers: one stream on 1 worker vs 2 workers of the same concurrency.

    .venv/bin/python bench/throughput.py [--repeat 1] [--processes 20] [--wait 2] [--worker-concurrency 5]

Starts an embedded PostgreSQL and a real Airflow on CeleryExecutor (scheduler, dag-processor, triggerer,
api-server, a redis-server broker) with two `airflow celery worker`s of --worker-concurrency slots each:
bench-worker-1 serves the queues `default` and `one_worker`, bench-worker-2 serves `default`. Two streams
of the same --processes notebooks, each notebook waiting --wait seconds (LLM-bound work waits for the
server, it does not use the CPU), in one group whose max_parallel lets them all start at once:
  (1) the group routed to queue `one_worker` (cntl_cfg_prcs_grp.queue_nm): only worker 1 runs it;
  (2) the group on `default`: both workers run it, twice the slots.
Routing one stack's work, rather than starting a second stack with one worker, keeps everything else the
same (scheduler, broker, warm workers) and lets the two kinds alternate round by round, so a change in the
machine's load (it is shared) weighs on both alike. [core] parallelism covers every process of the stream
plus both workers' slots, so the scheduler queues all ready processes on the broker at once and a worker
takes the next the moment a slot frees, as Celery is meant to run. (With parallelism equal to the slots, the
next task left the scheduler only a loop after it had seen a slot free, and unevenly: the one-worker side
always had one task waiting on the broker, the two-worker side none.)

Why 5 slots a worker by default: equal tasks run in waves, 20 of them in 4 waves of 5 vs 2 of 10, so 2.0x is
the ceiling; with 4 slots it is 5 waves vs 3 (20 / 8 rounds up), a ceiling of 1.67x whatever the workers do.
Each kind is warmed up once, then timed in --repeat rounds (wall time from the REST trigger until the run is
seen finished); each llf run has a fresh business date. A failed run is reported (which task, why) and
counted. Prints every round with the load average, the medians, the speed-up (goal >= 1.8x) and how many
processes each worker ran in the last round of each kind (cntl_cfg_log.hostname), with its task timeline.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    bench_folder,
    bench_stack,
    business_date,
    load,
    measured_alternating,
    notebook_seconds,
    ratio,
    reported,
    spread,
    timed,
    timeline,
)
from llf.local.airflow import AirflowStack
from llf.local.celery import CeleryWorker
from tests.support.notebooks import write_notebook
from tests.support.registry import Registry, sql_runner

ONE_WORKER_QUEUE = "one_worker"
STREAMS = {"bench_throughput_1w": ONE_WORKER_QUEUE, "bench_throughput_2w": "default"}
NOTEBOOK = "wait.ipynb"


def workers(concurrency: int) -> tuple[CeleryWorker, ...]:
    """Worker 1 alone serves the one-worker queue; both serve `default`."""
    return (CeleryWorker("bench-worker-1", f"default,{ONE_WORKER_QUEUE}", concurrency),
            CeleryWorker("bench-worker-2", "default", concurrency))


def register_streams(registry: Registry, processes: int) -> None:
    """Each stream: one group of `processes` notebooks, all allowed at once, on the stream's queue."""
    for stream, queue in STREAMS.items():
        group_id = registry.group(registry.stream(stream), f"{stream}_g", max_parallel=processes)
        registry.run("UPDATE cntl_af.cntl_cfg_prcs_grp SET queue_nm = %s WHERE prcs_grp_id = %s", (queue, group_id))
        for position in range(processes):
            registry.process(group_id, f"{stream}_p{position}", priority=position + 1, notebook=NOTEBOOK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="timed rounds of each kind after the warm-up")
    parser.add_argument("--processes", type=int, default=20, help="processes of the stream (default 20)")
    parser.add_argument("--wait", type=float, default=2.0, help="seconds each notebook waits (default 2)")
    parser.add_argument("--worker-concurrency", type=int, default=5, help="task slots of each worker (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (Airflow task logs) and print it")
    args = parser.parse_args()

    with bench_folder("throughput", args.keep) as setup, sql_runner(setup.control_url) as sql:
        write_notebook(setup.notebooks / NOTEBOOK, f"import time\ntime.sleep({args.wait})")
        register_streams(Registry(sql), args.processes)
        parallelism = {"AIRFLOW__CORE__PARALLELISM": str(args.processes + 2 * args.worker_concurrency)}
        with bench_stack(setup, {"llf": ROOT / "dags"}, workers(args.worker_concurrency), parallelism) as stack:
            for stream in STREAMS:
                stack.client().wait_for_dag(f"stream__{stream}", timeout=120)
            _measure(stack, sql, args.repeat,
                     f"{args.processes} processes waiting {args.wait:g} s, {args.worker_concurrency} slots a worker")


def _measure(stack: AirflowStack, sql: Callable, repeat: int, size: str) -> None:
    """Time the one-worker stream against the two-worker one in alternating rounds; print the figures."""
    api = stack.client()
    last: dict[str, str] = {}

    def measure(stream: str) -> Callable[[int], float | None]:
        def once(index: int) -> float | None:
            run = timed(api, f"stream__{stream}", business_date(index))
            last[stream] = run.run_id
            return reported(stack, run)
        return once

    one_worker, two_workers = measured_alternating(repeat, *map(measure, STREAMS))
    print(f"(1) 1 worker, {size}: {spread(one_worker)}")
    print(f"(2) 2 workers, {size}: {spread(two_workers)}")
    print(f"speed-up 1 worker / 2 workers: {ratio(one_worker, two_workers):.2f}x (goal >= 1.8; {load()})")
    for stream, run_id in last.items():
        hosts = sql("SELECT hostname, count(*) FROM cntl_af.cntl_cfg_log WHERE strem_run_id = %s "
                    "AND prcs_nm IS NOT NULL AND status = 'SUCCESS' GROUP BY hostname ORDER BY hostname", (run_id,))
        print(f"{stream} last run: processes per worker {dict(hosts)}, "
              f"mean RUNNING -> SUCCESS {notebook_seconds(sql, run_id):.1f} s; tasks (seconds after the run started):")
        print("\n".join(timeline(api, f"stream__{stream}", run_id)))


if __name__ == "__main__":
    main()
