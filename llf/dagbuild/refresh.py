"""Refresh the llf snapshot cache now, outside any DAG file parse: `python -m llf.dagbuild.refresh`.

What a parse starts in the background when a refresh outlasts its budget (llf.dagbuild.snapshot), and what a
command or a task can call to refresh on demand (e.g. right after registering many processes): the parses
then find a fresh cache and never wait for the control DB. Exit status 0 when the cache was written or
another refresh was already running, 1 when the control tables could not be read (the parses keep serving
the last snapshot and say why), 2 when LLF_STATE_DIR cannot hold the lock or the cache.
"""

from __future__ import annotations

import enum
import logging
import sys

from llf.dagbuild.snapshot import refresh_lock, refresh_snapshot
from llf.exceptions import ConfigurationError, ControlDatabaseError, StateDirError
from llf.settings import state_dir
from llf.text import one_line

log = logging.getLogger("llf.dagbuild.refresh")

# How long a refresh waits for the lock: a parse holds it for a moment to see whether a refresh runs
# (refresh_running), and a refresh started at that instant must not mistake it for one.
LOCK_WAIT_SECONDS = 1.0


class Outcome(enum.Enum):
    """What one refresh did, and its exit status."""

    REFRESHED = "refreshed"
    ALREADY_RUNNING = "already running"  # exit 0 as well: the refresh running writes the cache
    UNREADABLE = "control tables unreadable"
    STATE_DIR_BROKEN = "LLF_STATE_DIR cannot hold the lock or the cache"

    @property
    def exit_status(self) -> int:
        return _EXIT_STATUS[self]


_EXIT_STATUS = {Outcome.REFRESHED: 0, Outcome.ALREADY_RUNNING: 0, Outcome.UNREADABLE: 1, Outcome.STATE_DIR_BROKEN: 2}


def refresh(db_url: str | None = None) -> Outcome:
    """One refresh under the refresh lock, logging what happened (the background refresh a parse starts): see
    attempt_refresh."""
    outcome, sentence = attempt_refresh(db_url)
    if outcome is Outcome.REFRESHED or outcome is Outcome.ALREADY_RUNNING:
        log.info("%s", sentence)
    else:
        log.error("%s", sentence)
    return outcome


def attempt_refresh(db_url: str | None = None) -> tuple[Outcome, str]:
    """One refresh under the refresh lock, and a sentence saying what happened, for a log or a terminal; a
    second one started meanwhile has nothing to do. A broken LLF_STATE_DIR is told apart from a refresh running
    elsewhere (both leave no new cache). `db_url`: the control DB (`llf refresh --db-url`), else the one a parse
    would resolve. A failure nobody foresaw is logged with its traceback too, and still told in one sentence."""
    folder = state_dir()
    try:
        with refresh_lock(folder, LOCK_WAIT_SECONDS, record_holder=True) as held:
            if not held:
                return Outcome.ALREADY_RUNNING, (f"Another llf snapshot refresh is running ({folder} is locked); "
                                                 "nothing to do.")
            catalog = refresh_snapshot(must_write=True, db_url=db_url)
    except StateDirError as error:
        return Outcome.STATE_DIR_BROKEN, f"Refreshing the llf snapshot failed: {one_line(error)}"
    except Exception as error:
        if not isinstance(error, ControlDatabaseError | ConfigurationError):
            log.debug("Refreshing the llf snapshot failed", exc_info=True)
        return Outcome.UNREADABLE, f"Refreshing the llf snapshot failed: {one_line(error)}"
    return Outcome.REFRESHED, (f"llf snapshot refreshed in {catalog.refresh_seconds:.1f} s: "
                               f"{len(catalog.snapshot.processes)} processes, {len(catalog.problems)} stream(s) "
                               "with problems.")


def main() -> int:
    """`python -m llf.dagbuild.refresh`: refresh() as an exit status."""
    return refresh().exit_status


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main())
