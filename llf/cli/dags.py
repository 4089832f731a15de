"""`llf refresh`: re-read the registrations into the snapshot cache the DAG files build from, now.

Run it where the DAG files are parsed (same LLF_STATE_DIR), e.g. after registering many processes: the
next parse finds a fresh cache and never waits for the control DB (llf.dagbuild.snapshot).
"""

from __future__ import annotations

import argparse

from llf.cli.common import add_command, console


def _refresh(args: argparse.Namespace) -> int:
    import logging

    from llf.dagbuild.refresh import Outcome, refresh

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    outcome = refresh(args.db_url)
    if outcome is Outcome.REFRESHED:
        console.print("Snapshot cache refreshed; the next DAG file parse uses it.")
    elif outcome is Outcome.ALREADY_RUNNING:
        console.print("Another snapshot refresh was already running; it writes the cache, this command wrote "
                      "nothing.")
    return 2 if outcome.exit_status else 0


def register(commands: argparse._SubParsersAction) -> None:
    add_command(commands, "refresh", _refresh, "re-read the registrations into the DAG files' snapshot cache now "
                "(LLF_STATE_DIR), so the next parse never waits for the control DB; exit 2 if they cannot be read "
                "or the cache cannot be written")
