"""What every `llf` command shares: the consoles, the --db-url option, dates and one-line errors."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from llf.text import one_line, parse_date

# Rich lays a page out 80 columns wide when it writes to no terminal (a pipe, a file, a CI or `make demo` log),
# and a table then wraps every cell onto several lines: unreadable in the log it was written for. Off a terminal,
# the page is wide enough for a run log line; COLUMNS still sets it, as it does for a terminal.
LOG_PAGE_COLUMNS = 240


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if os.environ.get("COLUMNS") or stream.isatty() else LOG_PAGE_COLUMNS
    return Console(stderr=stderr, highlight=False, width=width)


console = _console()
errors = _console(stderr=True)

Handler = Callable[[argparse.Namespace], int]


def add_command(into: argparse._SubParsersAction, name: str, handler: Handler, help_text: str,
                db_url: bool = True, project: bool = False) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does, with the --db-url option when it reads the control DB and
    --project when it works on a project's folders (main makes it the project: llf.settings.use_project)."""
    sub = into.add_parser(name, help=help_text, description=help_text)
    if db_url:
        sub.add_argument("--db-url", help="control DB URL (default: LLF_CONTROL_DB_URL, else the "
                         "Airflow connection cntl_af)")
    if project:
        sub.add_argument("--project", type=Path, metavar="PATH", help="the llf project (a folder with llf.toml; "
                         "default: LLF_PROJECT_DIR, else the current folder or the nearest one above it)")
    sub.set_defaults(handler=handler)
    return sub


def iso_date(text: str) -> dt.date:
    """An argparse type: `llf.text.parse_date` (the one date rule, the UI's too), its refusal a usage error
    (exit 2) with its sentence: argparse shows an ArgumentTypeError's text, a ValueError's only as "invalid"."""
    try:
        return parse_date(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one `error:` line naming --help, like every other llf error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        print_error(f"{self.prog}: {message} (see `{self.prog} --help`)")
        raise SystemExit(2)


def print_error(text: str) -> None:
    errors.print(f"error: {one_line(text)}", markup=False, soft_wrap=True)
