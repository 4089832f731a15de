"""The `llf` command line: `llf db upgrade`, `llf validate`, `llf status`, `llf local demo`, ...

Every command exits 0 on success, 1 when it found problems, 2 on a usage or configuration error, 130 on Ctrl-C.
Each command group lives in its own module with a `register(commands)`; this one only assembles them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import psycopg2

from llf.cli import checks, dags, db, init, local, pins, pools, registrations, runs
from llf.cli.common import Parser, print_error
from llf.exceptions import LlfError
from llf.settings import use_project

COMMAND_GROUPS = (init, db, checks, dags, local, pins, pools, registrations, runs)


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="llf", description="LLM Local Framework control plane.")
    top.add_argument("--version", action="version", version=f"llf {_version()}")
    commands = top.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return top


def _version() -> str:
    """The installed package's version (pyproject.toml), so a bug report can say which llf it is about."""
    try:
        return version("llf")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        if getattr(args, "project", None) is not None:
            use_project(args.project)
        return args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C anywhere (a poll, a request): one line and the shell's code for SIGINT
        print_error("interrupted; anything already triggered in Airflow keeps running there")
        return 130
    except LlfError as error:
        print_error(str(error))
        return 2
    except psycopg2.Error as error:  # a statement on the control tables failed: one line, never a traceback
        from llf.control.repository import database_error

        print_error(str(database_error(error)))
        return 2
