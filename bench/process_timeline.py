"""Where one process task's time goes, without Airflow: llf's runner vs papermill alone, in one process.

    .venv/bin/python bench/process_timeline.py [--rounds 7]

Starts an embedded PostgreSQL and a folder lake, registers one stream of trivial notebooks, then in
alternating rounds runs (a) what a stream task runs (open the stream row, check dependencies, run the
process: lock, log rows, papermill, HTML, lake) and (b) `papermill.execute_notebook` on the same notebook,
as a hand-written PythonOperator would. Both in this already-warm interpreter, as in a preloaded worker,
so the difference is llf's own per-task cost. Prints each round, the medians with their spread (min-max)
and the load average, then the median of every step of llf's task (llf.runner.timeline).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import load  # noqa: E402
from llf.local.postgres import EmbeddedPostgres  # noqa: E402
from tests.support.notebooks import write_notebook  # noqa: E402
from tests.support.registry import Registry, sql_runner  # noqa: E402

STREAM = "bench_timeline"
NOTEBOOK = "trivial.ipynb"


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds of each kind after one warm-up")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="llf-bench-timeline-"))
    notebook = write_notebook(work / "notebooks" / NOTEBOOK, "message = f'{greeting}, world'")
    (work / "lake").mkdir()
    postgres = EmbeddedPostgres(work / "pgdata")
    try:
        postgres.create_template()
        url = postgres.fresh_database(prefix="bench")
        os.environ.update({"LLF_CONTROL_DB_URL": url, "LLF_NOTEBOOK_DB_URL": postgres.notebook_url(url),
                           "LLF_NOTEBOOKS_DIR": str(notebook.parent), "LLF_LAKE_URL": (work / "lake").as_uri(),
                           "LLF_STATE_DIR": str(work / "state")})
        _register(url, args.rounds + 1)
        _compare(notebook, work, args.rounds)
    finally:
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


def _register(url: str, processes: int) -> None:
    with sql_runner(url) as sql:
        registry = Registry(sql)
        group = registry.group(registry.stream(STREAM), f"{STREAM}_g", max_parallel=1)
        for index in range(processes):
            registry.process(group, f"{STREAM}_p{index}", notebook=NOTEBOOK, priority=index + 1)


def _compare(notebook: Path, work: Path, rounds: int) -> None:
    import papermill

    from llf.context import RunContext
    from llf.runner.tasks import Timeline, run_stream_process, warm_html_exporter

    warm_html_exporter()  # as llf.runner.preload does in a worker
    timelines: list[Timeline] = []

    def llf_task(index: int) -> float:
        context = RunContext(strem_nm=STREAM, prcs_nm=f"{STREAM}_p{index}", business_date=dt.date(2026, 1, 1),
                             run_id=f"run_{index}", strem_run_id="stream_run", triggered_by="stream")
        timeline = Timeline()
        if not run_stream_process(context, [context.prcs_nm], timeline):
            raise SystemExit("the process waited for a dependency: none is registered")
        timelines.append(timeline)
        return sum(seconds for _, seconds in timeline.phases())

    def papermill_task(_index: int) -> float:
        started = time.perf_counter()
        papermill.execute_notebook(str(notebook), str(work / "out.ipynb"), kernel_name="python3",
                                   progress_bar=False, parameters={"greeting": "bench"})
        return time.perf_counter() - started

    llf_task(0), papermill_task(0)  # warm-ups
    timelines.clear()
    figures: dict[str, list[float]] = {"llf": [], "papermill": []}
    for index in range(1, rounds + 1):
        order = [("llf", llf_task), ("papermill", papermill_task)][:: 1 if index % 2 else -1]
        for name, measure in order:
            figures[name].append(measure(index))
        print(f"round {index}: llf {figures['llf'][-1]:.3f} s, papermill {figures['papermill'][-1]:.3f} s "
              f"({load()})", flush=True)
    print(f"llf stream task: {spread(figures['llf'])}")
    print(f"papermill alone: {spread(figures['papermill'])}")
    ratio = statistics.median(figures["llf"]) / statistics.median(figures["papermill"])
    print(f"ratio llf/papermill: {ratio:.2f} ({load()})")
    print("llf task steps, median ms over the rounds (llf.runner.timeline):")
    steps: dict[str, list[float]] = {}
    for timeline in timelines:
        for label, seconds in timeline.phases():
            steps.setdefault(label, []).append(seconds * 1000)
    for label, values in steps.items():
        print(f"  {label:<28} {statistics.median(values):7.1f}  (min {min(values):.1f}, max {max(values):.1f})")


if __name__ == "__main__":
    main()
