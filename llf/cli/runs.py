"""`llf run`, `llf backfill` and `llf log`: run a stream for business dates through Airflow, and read a process's
attempts.

Runs are triggered exactly as local mode and the Airflow trigger form do: a manual run of `stream__<name>` (no
logical date) whose conf carries `business_date` and `full_rerun`, so a run from the CLI is one like any other
(same run log, same SKIPPED for work already done, same grid in the UI). Backfill does not use Airflow's own
backfill: that needs a schedule and derives the date from the logical date; one manual run per date, each
awaited before the next, works for every stream and keeps the dates in order.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from llf.cli.common import add_command, console, iso_date
from llf.exceptions import ConfigurationError, LlfError
from llf.settings import AIRFLOW_PASSWORD_ENV, AIRFLOW_URL_ENV, AIRFLOW_USER_ENV, control_db_url
from llf.text import one_line

if TYPE_CHECKING:  # what the commands import when they run: `llf --help` loads none of it
    from rich.table import Table

    from llf.airflow_api import AirflowClient
    from llf.control.model import LogEntry

POLL_S = 2.0
STREAM_ROW_WAIT_S = 60  # a run whose processes did not all run has its row closed by a DAG callback, seconds later
Outcome = Literal["SUCCESS", "FAILED", "RUNNING"]  # RUNNING: still going in Airflow after --timeout-min
_OUTCOME_SHOWN = {"SUCCESS": "SUCCESS in", "FAILED": "FAILED in", "RUNNING": "STILL RUNNING after"}


@dataclass
class Airflow:
    """A logged-in API client and where it points; `named` tells LLF_AIRFLOW_URL from local mode's default."""

    api: AirflowClient
    url: str
    named: bool

    @property
    def shown(self) -> str:
        """The URL as printed: without the password someone may have put in LLF_AIRFLOW_URL."""
        from llf.secrets import redact

        return redact(self.url)

    def run_url(self, dag_id: str, run_id: str) -> str:
        return f"{self.shown}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


@contextmanager
def airflow_errors(url: str, named: bool) -> Iterator[None]:
    """Turn what can go wrong talking to Airflow into one line naming the setting to fix (exit 2), never a
    traceback. Messages are built here, not from httpx's text, and the URL is redacted: no secret is printed."""
    import httpx

    from llf.secrets import redact

    where = redact(url) + ("" if named else f" (local mode's address; {AIRFLOW_URL_ENV} is unset)")
    fix_url = f"set {AIRFLOW_URL_ENV} to the Airflow api-server's address" + (
        "" if named else ", or start local mode with `llf local up`")
    try:
        yield
    except httpx.HTTPStatusError as error:
        status, path = error.response.status_code, error.request.url.path
        if path.endswith("/auth/token"):
            if status == 404:
                raise ConfigurationError(f"{where} is not an Airflow 3 api-server (no /auth/token): {fix_url}.") \
                    from None
            if status == 403:
                raise ConfigurationError(f"Airflow at {where} requires a login: set {AIRFLOW_USER_ENV} and "
                                         f"{AIRFLOW_PASSWORD_ENV}.") from None
            raise ConfigurationError(f"Airflow at {where} refused the login (HTTP {status}): check "
                                     f"{AIRFLOW_USER_ENV} and {AIRFLOW_PASSWORD_ENV}.") from None
        if status in (401, 403):
            raise ConfigurationError(f"Airflow at {where} refused {error.request.method} {path} (HTTP {status}): "
                                     f"give the user {AIRFLOW_USER_ENV} the right to read and trigger llf's DAGs."
                                     ) from None
        raise ConfigurationError(f"Airflow at {where} answered HTTP {status} to {error.request.method} {path}: "
                                 f"{one_line(error.response.text)[:300]}") from None
    except httpx.HTTPError as error:  # connection refused, DNS, timeout, protocol
        raise ConfigurationError(f"Cannot reach Airflow at {where} ({type(error).__name__}: "
                                 f"{one_line(str(error)) or 'no answer'}): {fix_url}.") from None
    except httpx.InvalidURL as error:  # not an HTTPError; its text may quote a piece of the URL (a password's)
        reason = str(error).split(":")[0].split(",")[0]  # "Invalid port", "Invalid IDNA hostname", ...
        raise ConfigurationError(f"{AIRFLOW_URL_ENV + ' ' if named else ''}{where} is not a valid URL ({reason}): "
                                 f"{fix_url}.") from None
    except (ValueError, KeyError, TypeError) as error:  # a 200 not JSON, or JSON without the field asked for
        raise ConfigurationError(f"{where} did not answer like Airflow's API ({type(error).__name__}: "
                                 f"{one_line(str(error))[:200]}): {fix_url}.") from None


def connect() -> Airflow:
    """Log in to Airflow: LLF_AIRFLOW_URL, else local mode's api-server; credentials from the environment."""
    from llf.airflow_api import AirflowClient
    from llf.local.stack import LocalSettings
    from llf.settings import airflow_credentials, airflow_url

    named = airflow_url()
    url = named or LocalSettings.from_env().base_url
    credentials = airflow_credentials()
    with airflow_errors(url, bool(named)):
        return Airflow(AirflowClient(url, credentials), url, bool(named))


def active_processes(db_url: str, stream: str) -> int:
    """How many processes a run of the stream runs; a stream nobody registered, or with nothing active, is a
    usage error (exit 2) before anything is asked of Airflow."""
    from llf.control.status import latest_statuses, stream_is_registered

    count = len(latest_statuses(db_url, stream=stream))
    if count:
        return count
    if not stream_is_registered(db_url, stream):
        raise LlfError(f"--stream {stream}: no stream of that name is registered (cntl_af.cntl_cfg_strem); "
                       "`llf status` lists every active one.")
    raise LlfError(f"--stream {stream}: the stream is inactive or has no active process (actv_flg of "
                   "cntl_cfg_strem, cntl_cfg_prcs_grp, cntl_cfg_prcs): nothing to run.")


def runnable_dag(airflow: Airflow, stream: str) -> str:
    """The stream's DAG id once Airflow can run it: parsed, built from valid registrations, not paused."""
    from llf.control.model import stream_dag_id

    dag_id = stream_dag_id(stream)
    with airflow_errors(airflow.url, airflow.named):
        dag = airflow.api.dag(dag_id)
    if dag is None:
        raise LlfError(f"Airflow at {airflow.shown} has no DAG {dag_id}: new registrations reach it within "
                       "LLF_SNAPSHOT_REFRESH_SECONDS plus a parse; else see `llf validate` and Airflow's import "
                       f"errors (or {AIRFLOW_URL_ENV} points at another Airflow).")
    tags = {tag.get("name") for tag in dag.get("tags") or []}
    if "llf:invalid" in tags:
        raise LlfError(f"DAG {dag_id} is a placeholder: the stream's registrations are invalid; "
                       "`llf validate` names the rows to fix.")
    if dag.get("is_paused"):
        raise LlfError(f"DAG {dag_id} is paused in Airflow: unpause it ({airflow.shown}/dags/{dag_id}) and run again.")
    return dag_id


def trigger(airflow: Airflow, dag_id: str, day: dt.date, full_rerun: bool) -> str:
    """Start a stream run for the business date, with the conf the stream DAG reads (llf.dagbuild.common)."""
    conf = {"business_date": day.isoformat(), "full_rerun": full_rerun}
    with airflow_errors(airflow.url, airflow.named):
        return airflow.api.trigger(dag_id, conf)


def _process_line(entry: LogEntry, done: int, total: int) -> str:
    """`[2/5] p: SUCCESS in 12s`, with the message when it did not succeed."""
    from llf.control.model import DONE, Status
    from llf.text import format_duration

    took = f" in {format_duration(entry.duration)}" if entry.duration is not None else ""
    why = f": {one_line(entry.message)[:200]}" if entry.status not in DONE | {Status.RUNNING} else ""
    return f"  [{done}/{total}] {entry.prcs_nm}: {entry.status}{took}{why}"


def follow(airflow: Airflow, db_url: str, stream: str, run_id: str, timeout_min: float) -> str | None:
    """Print each process's status as it lands in the run log, until the Airflow run ends: its final state,
    or None after `timeout_min`. Rows are read after the state, so the last pass sees every process row."""
    from llf.airflow_api import FINAL_RUN_STATES
    from llf.control.log import attempts_of_stream_run
    from llf.control.model import stream_dag_id

    dag_id, total = stream_dag_id(stream), active_processes(db_url, stream)
    deadline, seen = time.monotonic() + timeout_min * 60, dict[str | None, str]()
    last_state = None
    while True:
        with airflow_errors(airflow.url, airflow.named):
            state = airflow.api.run(dag_id, run_id)["state"]
        if state != last_state and state not in FINAL_RUN_STATES:
            console.print(f"  run {state}", markup=False)
            last_state = state
        latest = {entry.prcs_nm: entry for entry in attempts_of_stream_run(db_url, stream, run_id)}
        for name, entry in latest.items():
            if seen.get(name) != entry.status:
                seen[name] = entry.status
                done = sum(status != "RUNNING" for status in seen.values())
                console.print(_process_line(entry, done, total), markup=False, soft_wrap=True)
        if state in FINAL_RUN_STATES:
            return state
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_S)


def settle(db_url: str, stream: str, run_id: str) -> None:
    """Wait (bounded) for the run's stream row to close, then close what no one will, as `llf status` does:
    the processes a stopped run never ran get their SKIPPED rows from a DAG callback seconds after the run."""
    from llf.airflow_api import poll
    from llf.control.stream_runs import find_stream_run_row
    from llf.runner.tasks import mark_stale_stream_runs_finished

    def closed() -> bool | None:
        row = find_stream_run_row(db_url, stream, run_id)
        return True if row is None or row.end_ts is not None else None

    poll(closed, STREAM_ROW_WAIT_S, interval=1)
    mark_stale_stream_runs_finished(db_url, stream)


def date_succeeded(db_url: str, stream: str, day: dt.date, state: str | None) -> bool:
    """Whether the stream's run for the date did all its work: the Airflow run succeeded and every active
    process stands at SUCCESS or SKIPPED (already done) for the date."""
    from llf.control.model import DONE
    from llf.control.status import latest_statuses

    rows = latest_statuses(db_url, stream=stream, business_date=day)
    return state == "success" and bool(rows) and all(row.status in DONE for row in rows)


def date_done(db_url: str, stream: str, day: dt.date) -> bool:
    """Whether every active process of the stream already SUCCEEDED for the date: what a restarted backfill
    skips. A process whose deciding attempt is SKIPPED never ran for it (a stopped run), so it is not done."""
    from llf.control.status import latest_statuses

    rows = latest_statuses(db_url, stream=stream, business_date=day)
    return bool(rows) and all(row.status == "SUCCESS" for row in rows)


def print_status(db_url: str, stream: str, day: dt.date) -> None:
    from llf.control.status import latest_statuses
    from llf.tables import status_table

    console.print(status_table(latest_statuses(db_url, stream=stream, business_date=day),
                               f"llf status for {stream} on {day}"))


@dataclass(frozen=True)
class DateRun:
    """One date's run as the CLI saw it: a run that outlived --timeout-min is RUNNING, not FAILED, since
    what to do next differs (wait for it, not start another run of the same date beside it)."""

    outcome: Outcome
    run_id: str
    url: str


def run_and_wait(airflow: Airflow, db_url: str, dag_id: str, args: argparse.Namespace, day: dt.date) -> DateRun:
    """Trigger the stream for one date and follow it to its end, or to --timeout-min."""
    stream = args.stream
    run_id = trigger(airflow, dag_id, day, args.full_rerun)
    console.print(f"{stream} {day}: run {run_id} triggered (full_rerun={str(args.full_rerun).lower()}), "
                  f"watch it at {airflow.run_url(dag_id, run_id)}", markup=False, soft_wrap=True)
    try:
        state = follow(airflow, db_url, stream, run_id, args.timeout_min)
    except KeyboardInterrupt:  # Ctrl-C stops the watching, not the run: say so instead of a traceback
        console.print(f"\n{stream} {day}: stopped following run {run_id}; it goes on in Airflow "
                      f"(`llf status --stream {stream} --date {day}`).", markup=False, soft_wrap=True)
        raise SystemExit(130) from None
    url = airflow.run_url(dag_id, run_id)
    if state is None:
        console.print(f"{stream} {day}: still running after {args.timeout_min:g} min (raise --timeout-min); "
                      "the run goes on in Airflow.", markup=False)
        return DateRun("RUNNING", run_id, url)
    settle(db_url, stream, run_id)
    return DateRun("SUCCESS" if date_succeeded(db_url, stream, day, state) else "FAILED", run_id, url)


def _run(args: argparse.Namespace) -> int:
    db_url = control_db_url(args.db_url)
    active_processes(db_url, args.stream)
    airflow = connect()
    dag_id = runnable_dag(airflow, args.stream)
    if not args.wait:
        run_id = trigger(airflow, dag_id, args.date, args.full_rerun)
        console.print(f"Triggered {dag_id} for business date {args.date}: run {run_id}", markup=False)
        console.print(f"Watch it: {airflow.run_url(dag_id, run_id)}  ·  llf status --stream {args.stream} "
                      f"--date {args.date}", markup=False, soft_wrap=True)
        return 0
    ok = run_and_wait(airflow, db_url, dag_id, args, args.date).outcome == "SUCCESS"
    print_status(db_url, args.stream, args.date)
    return 0 if ok else 1


def _stop_hint(args: argparse.Namespace, day: dt.date) -> str:
    """How to continue a backfill stopped at `day`: the same command, unless --full-rerun (it redoes every date)."""
    if args.full_rerun:
        return (f"fix it, then continue with `llf backfill --stream {args.stream} --from {day} --to {args.end} "
                "--full-rerun` (the same range with --full-rerun would redo every date).")
    return ("fix it, then run the same command again: dates already SUCCESS for every process are skipped "
            "(--keep-going goes on past a failed date).")


def still_running_hint(args: argparse.Namespace, day: dt.date, run_id: str, url: str) -> str:
    """How to continue a backfill stopped at a date whose run outlived --timeout-min: after that run ends,
    never beside it (the same command at once would trigger a second run of the same date)."""
    wait = (f"run {run_id} is still running in Airflow ({url}): wait for it to end "
            f"(`llf status --stream {args.stream} --date {day}`), then ")
    if not args.full_rerun:
        return wait + ("run the same command again: dates already SUCCESS for every process are skipped "
                       "(raise --timeout-min for dates that take longer).")
    if day == args.end:
        return wait + (f"nothing is left once it succeeded; rerun it with `llf backfill --stream {args.stream} "
                       f"--from {day} --to {day} --full-rerun` if it failed.")
    after = f"`llf backfill --stream {args.stream} --from {day + dt.timedelta(days=1)} --to {args.end} --full-rerun`"
    return wait + f"continue with {after} once it succeeded (--from {day} if it failed)."


def _backfill(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise LlfError(f"--to {args.end} is before --from {args.start}.")
    db_url = control_db_url(args.db_url)
    active_processes(db_url, args.stream)
    airflow = connect()
    dag_id = runnable_dag(airflow, args.stream)
    days = [args.start + dt.timedelta(days=n) for n in range((args.end - args.start).days + 1)]
    ran, skipped, failed = 0, 0, []
    for day in days:
        if not args.full_rerun and date_done(db_url, args.stream, day):
            console.print(f"{args.stream} {day}: already SUCCESS for every process, skipped.", markup=False)
            skipped += 1
            continue
        started = time.monotonic()
        done = run_and_wait(airflow, db_url, dag_id, args, day)
        ran += 1
        console.print(f"{args.stream} {day}: {_OUTCOME_SHOWN[done.outcome]} {time.monotonic() - started:.0f} s "
                      f"({len(days) - days.index(day) - 1} date(s) left)", markup=False)
        if done.outcome == "RUNNING":  # whatever --keep-going says: dates run one at a time, in order
            print_status(db_url, args.stream, day)
            console.print(f"Backfill stopped at {day}: {still_running_hint(args, day, done.run_id, done.url)}",
                          markup=False, soft_wrap=True)
            return 1
        if done.outcome == "FAILED":
            failed.append(day)
            print_status(db_url, args.stream, day)
            if not args.keep_going:
                console.print(f"Backfill stopped at {day}: {_stop_hint(args, day)}", markup=False, soft_wrap=True)
                return 1
    console.print(f"Backfill of {args.stream} {args.start}..{args.end}: {ran} date(s) run, {skipped} skipped "
                  f"(already done), {len(failed)} failed" + (f": {', '.join(map(str, failed))}." if failed else "."),
                  markup=False, soft_wrap=True)
    return 1 if failed else 0


def _log_json(rows: list[LogEntry]) -> str:
    """The attempts as a JSON list: dates and times ISO 8601, the duration in seconds."""
    from llf.control.queries import LOG_ROW_FIELDS

    return json.dumps([{**row.model_dump(mode="json", include=set(LOG_ROW_FIELDS)),
                        "duration_s": row.duration.total_seconds() if row.duration else None} for row in rows],
                      indent=2)


def _log_table(prcs_nm: str, rows: list[LogEntry]) -> Table:
    """One row per attempt, newest first; Text cells, so messages print as written (never as markup)."""
    from rich.table import Table
    from rich.text import Text

    from llf.tables import STATUS_STYLES
    from llf.text import format_duration

    table = Table(title=f"llf log for {prcs_nm} (newest first)")
    for column in ("date", "try", "status", "start", "duration", "message", "output"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            Text(str(row.business_date)), Text(str(row.try_number)),
            Text(row.status, style=STATUS_STYLES[row.status]),
            Text(row.start_ts.isoformat(sep=" ", timespec="seconds")),
            Text(format_duration(row.duration)),
            Text(one_line(row.message)[:120]), Text(row.output_path or ""),
        )
    return table


def _log(args: argparse.Namespace) -> int:
    from llf.control.queries import process_attempts, process_is_known

    db_url = control_db_url(args.db_url)
    rows = process_attempts(db_url, args.process, args.last)
    if not rows and not process_is_known(db_url, args.process):
        raise LlfError(f"--process {args.process}: no process of that name is registered (cntl_af.cntl_cfg_prcs) "
                       "or has ever logged an attempt.")
    if args.json:
        console.out(_log_json(rows), highlight=False)
    elif rows:
        console.print(_log_table(args.process, rows))
    else:
        console.print(f"{args.process} has no attempt in cntl_af.cntl_cfg_log yet.", markup=False)
    return 0


def positive(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 1")


def _run_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--stream", required=True, help="the stream to run (strem_nm)")
    sub.add_argument("--full-rerun", action="store_true", help="rerun processes already SUCCESS for the date too")
    sub.add_argument("--timeout-min", type=float, default=60,
                     help="stop waiting for a run after this long (default 60; the run goes on in Airflow)")


def register(commands: argparse._SubParsersAction) -> None:
    run = add_command(commands, "run", _run, "trigger a stream for a business date through Airflow's API; with "
                      "--wait follow it and print its status table, exit 1 if a process failed or was blocked")
    _run_options(run)
    run.add_argument("--date", type=iso_date, required=True, help="business date YYYY-MM-DD")
    run.add_argument("--wait", action="store_true", help="follow the run to its end instead of returning at once")
    backfill = add_command(commands, "backfill", _backfill, "run a stream once per business date from --from to "
                           "--to, in order, each awaited; dates already SUCCESS are skipped, so re-running "
                           "continues where it stopped; stops at the first failed date, or at one still running after "
                           "--timeout-min (exit 1)")
    _run_options(backfill)
    backfill.add_argument("--from", dest="start", type=iso_date, required=True, help="first business date")
    backfill.add_argument("--to", dest="end", type=iso_date, required=True, help="last business date (included)")
    backfill.add_argument("--keep-going", action="store_true", help="go on with the next dates after a failed one")
    log = add_command(commands, "log", _log, "attempt history of a process from cntl_af.cntl_cfg_log, newest first")
    log.add_argument("--process", required=True, help="the process (prcs_nm)")
    log.add_argument("--last", type=positive, default=20, help="how many attempts (default 20)")
    log.add_argument("--json", action="store_true", help="print a JSON list (ISO dates) instead of a table")
