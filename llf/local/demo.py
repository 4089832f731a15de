"""`llf local demo` (`make demo`): the local stack up, the project's streams registered and run, progress shown
live, and the `llf status` table at the end. Exit 1 when any process failed or was blocked.

What is registered is the project's: its `registrations/*.yaml` (synced, as `llf sync` does: a project made by
`llf init`), and its `control_sql/examples/*.sql` (applied: the repository's examples, `make demo`)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from llf.airflow_api import FINAL_RUN_STATES, AirflowClient, sync_pools
from llf.control.declared import FILE_SUFFIXES, load
from llf.control.model import DONE, FAILING, Status, process_dag_id, stream_dag_id
from llf.control.pools import registered_pools
from llf.control.repository import read_snapshot
from llf.control.sql_files import apply_files
from llf.control.status import ProcessStatus, latest_statuses
from llf.control.sync import sync_and_pin
from llf.control.validation import validate
from llf.exceptions import RegistrationError
from llf.local.celery import CeleryWorker
from llf.local.llm import choose_llm, prepare_model
from llf.local.stack import LocalSettings, LocalStack, RunningStack
from llf.runner.tasks import mark_stale_stream_runs_finished
from llf.services.lake.streams import stream_prefix
from llf.tables import STATUS_STYLES, status_table

EXAMPLES = Path("control_sql") / "examples"  # in the project: the repository's example registrations (SQL)
REGISTRATIONS = Path("registrations")  # in the project: its stream files (`llf init` writes one)
DAG_VISIBLE_TIMEOUT_S = 180
REFRESH_S = 2.0


@dataclass(frozen=True)
class DemoOptions:
    business_date: dt.date
    full_rerun: bool
    timeout_min: float


def start_local(console: Console, workers: tuple[CeleryWorker, ...] = ()) -> tuple[RunningStack, str]:
    """Choose the LLM, say which, and bring the stack up: (the running stack, the LLM provider).

    `workers`: run CeleryExecutor with these workers (llf.local.celery), else LocalExecutor."""
    llm = choose_llm()
    console.print(llm.description, markup=False)  # names models and hosts from the environment
    prepare_model(llm, say=lambda line: console.print(line, markup=False))
    stack = LocalStack(LocalSettings.from_env()).up(llm.env, say=lambda line: console.print(line, markup=False),
                                                    workers=workers)
    return stack, llm.env.get("LLF_LLM_PROVIDER", "")


def sync_local_pools(stack: RunningStack, console: Console) -> None:
    """`llf pools sync` on the local stack: a process in a pool Airflow does not have would wait forever, and
    LocalExecutor honours pools (it ignores queues), so the registered pools must exist before any run."""
    plan = sync_pools(AirflowClient(stack.base_url), registered_pools(stack.control_db_url))
    for line in plan.lines(dry_run=False):
        if not line.startswith("unchanged: "):  # on a reused stack, only what changed, then the count
            console.print(line, markup=False)


def run_demo(options: DemoOptions, console: Console) -> int:
    started = time.monotonic()
    stack, llm_provider = start_local(console)
    registered = _register(stack)
    snapshot = read_snapshot(stack.control_db_url)
    problems = validate(snapshot, stack.project / "notebooks")
    if problems:
        raise RegistrationError("The registrations have problems (llf validate):\n" + "\n".join(map(str, problems)))
    sync_local_pools(stack, console)
    streams = [stream.strem_nm for stream in snapshot.active_streams()]
    console.print(f"Registered {registered}; running {len(streams)} active stream(s) for "
                  f"business date {options.business_date}: {', '.join(streams)}", markup=False)
    api = AirflowClient(stack.base_url)
    for dag_id in [*map(stream_dag_id, streams), *(process_dag_id(p.prcs_nm) for p in snapshot.active_processes())]:
        api.wait_for_dag(dag_id, timeout=DAG_VISIBLE_TIMEOUT_S)
    full_rerun = options.full_rerun or stack.llm_changed
    if full_rerun and not options.full_rerun:
        console.print("Rerunning everything for the date: what succeeded before did so with the previous LLM.",
                      markup=False)
    conf = {"business_date": options.business_date.isoformat(), "full_rerun": full_rerun}
    runs = {stream: api.trigger(stream_dag_id(stream), conf) for stream in streams}
    states = _follow(api, stack, runs, options, console)
    return _report(stack, options, states, time.monotonic() - started, llm_provider, console)


def _register(stack: RunningStack) -> str:
    """Register the project's streams: its stream files synced, its example SQL applied (both re-runnable);
    what was registered, as the demo says it."""
    project = stack.project
    examples = sorted((project / EXAMPLES).glob("*.sql"))
    lost = apply_files(stack.control_db_url, examples)  # re-runnable: each INSERT does nothing when the row exists
    if lost:
        raise RegistrationError("An example registration inserted nothing: " + "; ".join(map(str, lost)))
    files = sorted(path for path in (project / REGISTRATIONS).glob("*") if path.suffix in FILE_SUFFIXES)
    if files:
        sync_and_pin(stack.control_db_url, [load(path) for path in files], project / "notebooks")
    if not examples and not files:
        raise RegistrationError(f"Nothing to run: {project / REGISTRATIONS} has no stream file (*.yaml); "
                                "`llf init` writes one, README Registrations as code says how.")
    said = [f"{len(examples)} example file(s)"] if examples else []
    return " and ".join([*said, *([f"{len(files)} stream file(s)"] if files else [])])


def _follow(api: AirflowClient, stack: RunningStack, runs: dict[str, str], options: DemoOptions,
            console: Console) -> dict[str, str]:
    """Poll the stream runs and the run log until every run ended (or the timeout), showing progress."""
    deadline = time.monotonic() + options.timeout_min * 60
    last_lines: dict[str, str] = {}
    with Live(console=console, auto_refresh=False, transient=True) as live:
        while True:
            states = {stream: api.run(stream_dag_id(stream), run_id)["state"] for stream, run_id in runs.items()}
            rows = latest_statuses(stack.control_db_url, business_date=options.business_date)
            table = _progress_table(states, rows)
            if console.is_terminal:
                live.update(table, refresh=True)
            else:  # a log, not a screen: one line per change
                for stream, line in _progress_lines(states, rows).items():
                    if last_lines.get(stream) != line:
                        console.print(line, markup=False)
                        last_lines[stream] = line
            if all(state in FINAL_RUN_STATES for state in states.values()) or time.monotonic() > deadline:
                return states
            time.sleep(REFRESH_S)


def _by_stream(rows: Sequence[ProcessStatus]) -> dict[str, list[ProcessStatus]]:
    grouped: dict[str, list[ProcessStatus]] = {}
    for row in rows:
        grouped.setdefault(row.strem_nm, []).append(row)
    return grouped


def _summary(rows: Sequence[ProcessStatus], never_ran: str) -> str:
    """`2 RUNNING, 3 SUCCESS`: how many processes stand at each latest status."""
    counts = Counter(row.status or never_ran for row in rows)
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))


def _running(rows: Sequence[ProcessStatus]) -> list[str]:
    """`process: its last progress line` for each process running now."""
    return [f"{row.prcs_nm}: {row.latest.message or 'running'}" for row in rows
            if row.latest and row.latest.status == Status.RUNNING]


def _progress_lines(states: dict[str, str], rows: Sequence[ProcessStatus]) -> dict[str, str]:
    grouped = _by_stream(rows)
    lines = {}
    for stream, state in states.items():
        processes = grouped.get(stream, [])
        running = _running(processes)
        lines[stream] = (f"{stream}: {state} ({_summary(processes, 'waiting')})"
                         + (f" | {'; '.join(running)}" if running else ""))
    return lines


def _progress_table(states: dict[str, str], rows: Sequence[ProcessStatus]) -> Table:
    """One line per stream run; cells are rich Text, so names and progress messages never parse as markup."""
    table = Table(title="llf demo: stream runs (refreshing)")
    for column in ("stream", "run", "processes", "now"):
        table.add_column(column, overflow="fold")
    grouped = _by_stream(rows)
    for stream, state in states.items():
        processes = grouped.get(stream, [])
        done = sum(row.status in DONE for row in processes)
        failed = sum(row.status in FAILING for row in processes)
        table.add_row(Text(stream), Text(state),
                      Text.assemble(f"{done}/{len(processes)} done", (f", {failed} failed", "red") if failed else ""),
                      Text("\n".join(_running(processes))[:200]))
    return table


def _report(stack: RunningStack, options: DemoOptions, states: dict[str, str], seconds: float,
            llm_provider: str, console: Console) -> int:
    mark_stale_stream_runs_finished(stack.control_db_url)  # and the abandoned attempts before them
    rows = latest_statuses(stack.control_db_url, business_date=options.business_date)
    console.print(status_table(rows, f"llf status for {options.business_date}"))
    unfinished = sorted(stream for stream, state in states.items() if state not in FINAL_RUN_STATES)
    summary = _summary(rows, "never ran")
    failed = any(row.status in FAILING for row in rows)
    ok = not unfinished and not failed and all(state == "success" for state in states.values())
    style = STATUS_STYLES[Status.SUCCESS if ok else Status.FAILED]
    console.print(Text.assemble((f"Demo {'succeeded' if ok else 'FAILED'}", style), f" in {seconds:.0f} s: {summary}."))
    if not ok and llm_provider == "llamacpp":
        console.print("On llama.cpp the LLM is a 270M base model: for better answers start Ollama "
                      "(see README, Local mode).", markup=False)
    if unfinished:
        console.print(f"Still running after {options.timeout_min:g} min: {', '.join(unfinished)} "
                      "(raise --timeout-min; the runs go on in Airflow).", markup=False)
    accuracy = _sentiment_accuracy(stack.lake, options.business_date)
    if accuracy:
        console.print(f"Sentiment example accuracy on its labelled sample: {accuracy}.", markup=False)
    for line in (  # paths and URLs may hold brackets: printed as written, never as markup
        f"Airflow UI:   {stack.base_url}  (stream DAGs are tagged llf:stream; no login in local mode)",
        f"Lake folder:  {stack.lake}",
        f"Control DB:   LLF_CONTROL_DB_URL='{stack.control_db_url}' llf status",
        f"Logs:         {stack.logs}",
        "Stop:         make stop   (`make demo` again reuses the data; --full-rerun reruns done work)",
    ):
        console.print(line, markup=False)
    return 0 if ok else 1


def _sentiment_accuracy(lake: Path, business_date: dt.date) -> str | None:
    """The sentiment example's evaluation, when it ran: README reports it for each LLM."""
    stream = "sentiment_analysis"  # nb.lake() of its notebooks writes under the stream's part of the lake
    path = lake / stream_prefix(stream) / "examples" / stream / str(business_date) / "evaluation.json"
    try:
        evaluation = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    correct, scored = evaluation["correct"], evaluation["scored"]
    return f"{correct / scored:.2f} ({correct}/{scored})" if scored else None
