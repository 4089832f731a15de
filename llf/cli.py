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
    from llf.control.repository import read_snapshot
    from llf.control.validation import validate

    snapshot = read_snapshot(control_db_url(args.db_url))
    problems = validate(snapshot, notebooks_dir())
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


STATUS_STYLES = {"SUCCESS": "green", "FAILED": "bold red", "BLOCKED": "red", "RUNNING": "yellow", "SKIPPED": "dim"}


def _status(args: argparse.Namespace) -> int:
    from rich.table import Table

    from llf.control.log import mark_abandoned_attempts_failed
    from llf.control.status import latest_statuses

    url = control_db_url(args.db_url)
    mark_abandoned_attempts_failed(url)  # never show a dead worker's attempt as RUNNING
    rows = latest_statuses(url, stream=args.stream, business_date=args.date)
    table = Table(title="llf status" + (f" for {args.date}" if args.date else " (latest attempt)"))
    for column in ("stream", "group", "process", "date", "status", "duration", "tokens", "message"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = row.status or "never ran"
        table.add_row(
            row.strem_nm, row.prcs_grp_nm, row.prcs_nm, str(row.business_date or ""),
            f"[{STATUS_STYLES.get(status, '')}]{status}[/]" if row.status else status,
            str(row.duration).split(".")[0] if row.duration else "", str(row.tokens or ""),
            (row.message or "")[:120],
        )
    console.print(table)
    return 1 if any(row.status in ("FAILED", "BLOCKED") for row in rows) else 0


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
    status.add_argument("--date", type=dt.date.fromisoformat, help="business date YYYY-MM-DD (default: latest)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except LlfError as error:
        errors.print(f"error: {error}", markup=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
