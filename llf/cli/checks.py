"""`llf validate` and `llf status`: what is registered wrong, and how the latest runs ended."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llf.cli.common import add_command, console, errors, iso_date
from llf.exceptions import ConfigurationError, LlfError
from llf.settings import control_db_url, notebooks_dir
from llf.text import one_line

if TYPE_CHECKING:
    from pathlib import Path

    from llf.airflow_api import AirflowClient
    from llf.cli.runs import Airflow
    from llf.control.model import Snapshot


def _validate(args: argparse.Namespace) -> int:
    """One line per problem (table, row, fix), exit 1 if any; never a traceback.

    A database that cannot be read (unreachable, schema not upgraded) is an LlfError naming the fix,
    printed by main (exit 2); validate() itself never raises.
    """
    from llf.control.repository import read_snapshot
    from llf.control.validation import validate

    url, folder = control_db_url(args.db_url), notebooks_dir()
    try:
        snapshot = read_snapshot(url)
    except LlfError:
        raise
    except Exception as error:  # noqa: BLE001 - read_snapshot names what it knows; anything else gets one line
        errors.print(f"error: reading the registrations failed: {one_line(f'{type(error).__name__}: {error}')}",
                     markup=False, soft_wrap=True)
        return 2
    problems = [*map(str, validate(snapshot, folder)), *_pin_problems(snapshot, folder)]
    for problem in problems:
        console.print(problem, markup=False, soft_wrap=True)
    if problems:
        errors.print(f"{len(problems)} problem(s) found.")
        return 1
    console.print(
        f"OK: {len(snapshot.active_streams())} active stream(s), "
        f"{len(snapshot.active_processes())} active process(es), no problems."
    )
    return 0


def _pin_problems(snapshot: Snapshot, folder: Path) -> list[str]:
    """Notebooks changed since they were pinned (their runs fail: problems); unpinned ones as warnings."""
    from llf.control.pins import pin_report

    report = pin_report(snapshot, folder)
    for unpinned in report.unpinned:
        errors.print(f"warning: {unpinned}", markup=False, soft_wrap=True)
    return [f"cntl_cfg_sys_file: {changed}" for changed in report.changed]


def _status(args: argparse.Namespace) -> int:
    from llf.control.model import FAILING
    from llf.control.status import latest_statuses, stream_is_registered
    from llf.runner.tasks import mark_stale_stream_runs_finished
    from llf.tables import status_table

    url = control_db_url(args.db_url)
    # never show a dead worker's attempt, or a stream run whose end nobody recorded, as RUNNING
    mark_stale_stream_runs_finished(url)  # sweeps abandoned process attempts first
    states = _AirflowRunStates()
    _close_runs_airflow_finished(url, states)
    _print_waiting(url, args.stream, states)
    rows = latest_statuses(url, stream=args.stream, business_date=args.date)
    if args.stream and not rows and not stream_is_registered(url, args.stream):
        # a usage error, not an empty table with exit 0: a mistyped name must not read as "nothing failed"
        errors.print(f"error: --stream {args.stream}: no stream of that name is registered "
                     "(cntl_af.cntl_cfg_strem); `llf status` without --stream lists every active one.",
                     markup=False, soft_wrap=True)
        return 2
    console.print(status_table(rows, "llf status" + (f" for {args.date}" if args.date else " (latest attempt)")))
    return 1 if any(row.status in FAILING for row in rows) else 0


class _AirflowRunStates:
    """Airflow's state of a stream run and of its tasks, asked through its REST API; logs in at the first
    question only, so `llf status` needs no Airflow while no stream row is RUNNING and LLF_AIRFLOW_URL is
    unset. An Airflow it cannot reach answers None (state unknown: the row stays as it is) and leaves the
    reason in `problem`."""

    def __init__(self) -> None:
        self._airflow: Airflow | None = None
        self.problem: str | None = None

    def __call__(self, dag_id: str, run_id: str) -> str | None:
        run = self._ask(lambda api: api.run(dag_id, run_id))
        return str(run.get("state") or "") or None if run else None

    def running_runs(self) -> list[dict]:
        return self._ask(lambda api: api.running_runs()) or []

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self._ask(lambda api: api.task_instances(dag_id, run_id)) or []

    def _ask(self, question: Callable[[AirflowClient], Any]) -> Any:
        import httpx

        from llf.cli.runs import airflow_errors, connect

        if self.problem is not None:
            return None
        try:
            self._airflow = self._airflow or connect()
            with airflow_errors(self._airflow.url, self._airflow.named):
                return question(self._airflow.api)
        except ConfigurationError as error:
            if isinstance(error.__context__, httpx.HTTPStatusError) and error.__context__.response.status_code == 404:
                return None  # Airflow does not know the run (deleted): nothing to say about it
            self.problem = str(error)
            return None


def _close_runs_airflow_finished(url: str, states: _AirflowRunStates) -> None:
    """Close the stream rows left RUNNING by runs Airflow has finished (their callback was lost: a placeholder
    replaced the DAG, the stream was deactivated, a DB blip), so `llf status` never shows an ended run as
    RUNNING. Without a reachable Airflow, a note says the RUNNING rows could not be checked."""
    from llf.runner.tasks import close_stream_runs_airflow_finished

    closed = close_stream_runs_airflow_finished(states, url=url)
    if closed:
        errors.print(f"note: closed {closed} stream run row(s) left RUNNING after Airflow finished the run.",
                     markup=False, soft_wrap=True)
    if states.problem:
        errors.print(f"note: RUNNING stream runs not checked against Airflow: {states.problem}",
                     markup=False, soft_wrap=True)


def _print_waiting(url: str, stream: str | None, states: _AirflowRunStates) -> None:
    """A sentence per task of a running stream run that waits in a Celery queue no worker takes from, or for a
    pool's slot (llf.cli.waiting): such a task has no row in the run log yet, and a run whose first tasks all wait
    has no stream row either, so the runs asked about are Airflow's running stream runs. Airflow is asked when a
    stream row is RUNNING or LLF_AIRFLOW_URL names it, so `llf status` with neither needs no Airflow."""
    from llf.cli.waiting import waiting_notes
    from llf.control.model import STREAM_DAG_PREFIX
    from llf.control.stream_runs import running_stream_runs
    from llf.settings import airflow_url

    if not airflow_url() and not running_stream_runs(url):
        return
    runs = [(str(run["dag_id"]).removeprefix(STREAM_DAG_PREFIX), str(run["dag_id"]), str(run["dag_run_id"]))
            for run in states.running_runs() if str(run.get("dag_id", "")).startswith(STREAM_DAG_PREFIX)]
    for note in waiting_notes([run for run in runs if stream in (None, run[0])], states.task_instances):
        errors.print(f"waiting: {note}", markup=False, soft_wrap=True)


def register(commands: argparse._SubParsersAction) -> None:
    add_command(commands, "validate", _validate, "check the registrations; one line per problem, exit 1 if any")
    status = add_command(commands, "status", _status,
                         "latest status per process; exit 1 if any is FAILED or BLOCKED")
    status.add_argument("--stream", help="only this stream (strem_nm)")
    status.add_argument("--date", type=iso_date, help="business date YYYY-MM-DD (default: latest)")
