"""`llf refresh`: re-read the registrations into the snapshot cache the DAG files build from, now.

Run it where the DAG files are parsed (same LLF_STATE_DIR), e.g. after registering many processes: the
next parse finds a fresh cache and never waits for the control DB (llf.dagbuild.snapshot).
"""

from __future__ import annotations

import argparse

from llf.cli.common import add_command, console, print_error


def _refresh(args: argparse.Namespace) -> int:
    """The outcome as a sentence: success on stdout, a failure as the one `error:` line on stderr every command
    gives (no log records: the command talks to its user, not to a log)."""
    from llf.dagbuild.refresh import Outcome, attempt_refresh

    outcome, sentence = attempt_refresh(args.db_url)
    if outcome is Outcome.REFRESHED:
        console.print(f"{sentence} The next DAG file parse uses it.", markup=False)
    elif outcome is Outcome.ALREADY_RUNNING:
        console.print("Another snapshot refresh was already running; it writes the cache, this command wrote "
                      "nothing.")
    else:
        print_error(sentence)
        return 2
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    add_command(commands, "refresh", _refresh, "re-read the registrations into the DAG files' snapshot cache now "
                "(LLF_STATE_DIR), so the next parse never waits for the control DB; exit 2 if they cannot be read "
                "or the cache cannot be written")
