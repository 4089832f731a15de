"""`llf db upgrade` and `llf db apply`: the control schema and registration SQL files."""

from __future__ import annotations

import argparse
from pathlib import Path

from llf.cli.common import add_command, console, errors
from llf.settings import control_db_url, notebooks_dir


def _upgrade(args: argparse.Namespace) -> int:
    from llf.control.migrations import upgrade

    applied = upgrade(control_db_url(args.db_url))
    if applied:
        console.print(f"Applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        console.print("Control schema is up to date; nothing applied.")
    return 0


def _apply(args: argparse.Namespace) -> int:
    """Exit 1 when a file lost a registration (an INSERT whose SELECT found nothing): that file is rolled back."""
    from llf.cli.pins import print_pins
    from llf.control.pins import Pin
    from llf.control.sql_files import apply_files

    pinned: list[Pin] = []
    empty = apply_files(control_db_url(args.db_url), args.files, notebooks_dir(), pinned)
    print_pins(pinned, dry_run=False)
    if not empty:
        console.print(f"Applied {len(args.files)} file(s).")
        return 0
    for insert in empty:
        console.print(str(insert), markup=False, soft_wrap=True)
    path = empty[0].statement.path
    done = args.files[: args.files.index(path)]
    errors.print(f"{len(empty)} INSERT(s) of {path} inserted nothing, so nothing from it was applied "
                 f"(applied before it: {len(done)} file(s); after it: none). Fix the names, then apply it again.",
                 markup=False, soft_wrap=True)
    return 1


def register(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="manage the control schema", description="manage the control schema")
    into = db.add_subparsers(dest="db_command", required=True)
    add_command(into, "upgrade", _upgrade, "apply the control schema DDL not applied yet (idempotent)")
    add_command(into, "apply", _apply, "run registration SQL files, each in one transaction").add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="SQL file(s), e.g. control_sql/examples/*.sql")
