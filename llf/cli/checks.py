"""`llf validate` and `llf status`: what is registered wrong, and how the latest runs ended."""

from __future__ import annotations

import argparse

from llf.cli.common import add_command, console, errors, iso_date
from llf.exceptions import LlfError
from llf.settings import control_db_url, notebooks_dir
from llf.text import one_line


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


def _status(args: argparse.Namespace) -> int:
    from llf.control.model import FAILING
    from llf.control.status import latest_statuses, stream_is_registered
    from llf.runner.tasks import mark_stale_stream_runs_finished
    from llf.tables import status_table

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
    return 1 if any(row.status in FAILING for row in rows) else 0


def register(commands: argparse._SubParsersAction) -> None:
    add_command(commands, "validate", _validate, "check the registrations; one line per problem, exit 1 if any")
    status = add_command(commands, "status", _status,
                         "latest status per process; exit 1 if any is FAILED or BLOCKED")
    status.add_argument("--stream", help="only this stream (strem_nm)")
    status.add_argument("--date", type=iso_date, help="business date YYYY-MM-DD (default: latest)")
