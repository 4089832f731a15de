"""The `llf` command line: `llf db upgrade`, `llf validate`, ...

Every command exits 0 on success, 1 when it found problems, 2 on a usage or configuration error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from llf.exceptions import LlfError
from llf.settings import control_db_url, notebooks_dir

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def _db_upgrade(args: argparse.Namespace) -> int:
    from llf.control.migrations import upgrade

    applied = upgrade(control_db_url(args.db_url))
    if applied:
        console.print(f"Applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        console.print("Control schema is up to date; nothing applied.")
    return 0


def _db_apply(args: argparse.Namespace) -> int:
    from llf.control.sql_files import apply_files

    apply_files(control_db_url(args.db_url), args.files)
    console.print(f"Applied {len(args.files)} file(s).")
    return 0


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
    except Exception as error:  # read_snapshot names what it knows; anything else still gets one line
        errors.print(f"error: reading the registrations failed: {_one_line(f'{type(error).__name__}: {error}')}",
                     markup=False, soft_wrap=True)
        return 2
    problems = validate(snapshot, folder)
    for problem in problems:
        console.print(str(problem), markup=False, soft_wrap=True)
    if problems:
        errors.print(f"{len(problems)} problem(s) found.")
        return 1
    console.print(
        f"OK: {len(snapshot.active_streams())} active stream(s), "
        f"{len(snapshot.active_processes())} active process(es), no problems."
    )
    return 0


def _iso_date(text: str) -> dt.date:
    """An argparse type: a calendar date written YYYY-MM-DD, else a usage error (exit 2) saying so.

    Strict on purpose: date.fromisoformat would also take 20260101 or 2026-W01-1, which no one means here.
    """
    import re  # here, not at the top: only this argument needs it

    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text} is not a date (YYYY-MM-DD)")


def _status(args: argparse.Namespace) -> int:
    from llf.control.status import any_failed, latest_statuses, status_table, stream_is_registered
    from llf.runner.stream import mark_stale_stream_runs_finished

    url = control_db_url(args.db_url)
    # never show a dead worker's attempt, or a stream run whose end nobody recorded, as RUNNING
    mark_stale_stream_runs_finished(url)  # sweeps abandoned process attempts first
    rows = latest_statuses(url, stream=args.stream, business_date=args.date)
    if args.stream and not rows and not stream_is_registered(url, args.stream):
        # a usage error, not an empty table with exit 0: a mistyped name must not read as "nothing failed"
        errors.print(f"error: --stream {args.stream}: no stream of that name is registered "
                     "(cntl_af.cntl_cfg_strem); `llf status` without --stream lists every active one.",
                     markup=False, soft_wrap=True)
        return 2
    console.print(status_table(rows, "llf status" + (f" for {args.date}" if args.date else " (latest attempt)")))
    return 1 if any_failed(rows) else 0


def _local_demo(args: argparse.Namespace) -> int:
    from llf.local.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(args.date, args.full_rerun, args.timeout_min), console)


def _local_up(args: argparse.Namespace) -> int:
    from llf.local.demo import start_local

    stack, _ = start_local(console)
    console.print(f"Airflow UI: {stack.base_url} · control DB: LLF_CONTROL_DB_URL='{stack.control_db_url}'",
                  markup=False)
    return 0


def _local_stop(args: argparse.Namespace) -> int:
    from llf.local.stack import LocalSettings, LocalStack

    LocalStack(LocalSettings.from_env()).stop(say=lambda line: console.print(line, markup=False))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llf", description="LLM Local Framework control plane.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str, into=commands):
        sub = into.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--db-url", help="control DB URL (default: LLF_CONTROL_DB_URL, else the "
                         "Airflow connection cntl_af)")
        sub.set_defaults(handler=handler)
        return sub

    db = commands.add_parser("db", help="manage the control schema").add_subparsers(dest="db_command",
                                                                                    required=True)
    command("upgrade", _db_upgrade, "apply the control schema DDL not applied yet (idempotent)", into=db)
    command("apply", _db_apply, "run registration SQL files, each in one transaction", into=db).add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="SQL file(s), e.g. control_sql/examples/*.sql")
    command("validate", _validate, "check the registrations; one line per problem, exit 1 if any")
    status = command("status", _status, "latest status per process; exit 1 if any is FAILED or BLOCKED")
    status.add_argument("--stream", help="only this stream (strem_nm)")
    status.add_argument("--date", type=_iso_date, help="business date YYYY-MM-DD (default: latest)")
    local = commands.add_parser(
        "local", help="local mode without Docker: embedded PostgreSQL + Airflow on localhost (LLF_LOCAL_DIR)"
    ).add_subparsers(dest="local_command", required=True)
    demo = local.add_parser("demo", help="start local mode, run the example streams with live progress, "
                            "print the status table; exit 1 if a process failed")
    demo.add_argument("--date", type=_iso_date, default=dt.date.today(),
                      help="business date YYYY-MM-DD (default: today)")
    demo.add_argument("--full-rerun", action="store_true", help="rerun processes already successful for the date")
    demo.add_argument("--timeout-min", type=float, default=60, help="give up waiting after this long (default 60)")
    demo.set_defaults(handler=_local_demo)
    local.add_parser("up", help="start (or reuse) local mode's PostgreSQL and Airflow, and return").set_defaults(
        handler=_local_up)
    local.add_parser("stop", help="stop what local mode started; data stays in LLF_LOCAL_DIR").set_defaults(
        handler=_local_stop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except LlfError as error:
        errors.print(f"error: {_one_line(str(error))}", markup=False, soft_wrap=True)
        return 2


def _one_line(text: str) -> str:
    """Errors are printed on one line whatever the terminal width, so scripts can grep them."""
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
