"""What every `llf` command shares: the consoles, the --db-url option, dates and one-line errors."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Callable
from typing import NoReturn

from rich.console import Console

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

Handler = Callable[[argparse.Namespace], int]


def add_command(into: argparse._SubParsersAction, name: str, handler: Handler, help_text: str,
                db_url: bool = True) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does, with the --db-url option when it reads the control DB."""
    sub = into.add_parser(name, help=help_text, description=help_text)
    if db_url:
        sub.add_argument("--db-url", help="control DB URL (default: LLF_CONTROL_DB_URL, else the "
                         "Airflow connection cntl_af)")
    sub.set_defaults(handler=handler)
    return sub


def iso_date(text: str) -> dt.date:
    """An argparse type: a calendar date written YYYY-MM-DD, else a usage error (exit 2) saying so.

    Strict on purpose: date.fromisoformat would also take 20260101 or 2026-W01-1, which no one means here.
    """
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text} is not a date (YYYY-MM-DD)")


def one_line(text: str) -> str:
    """Errors are printed on one line whatever the terminal width, so scripts can grep them."""
    return " ".join(text.split())


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one `error:` line naming --help, like every other llf error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        print_error(f"{self.prog}: {message} (see `{self.prog} --help`)")
        raise SystemExit(2)


def print_error(text: str) -> None:
    errors.print(f"error: {one_line(text)}", markup=False, soft_wrap=True)
