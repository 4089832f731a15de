"""Refresh the llf snapshot cache now, outside any DAG file parse: `python -m llf.dagbuild.refresh`.

What a parse starts in the background when a refresh outlasts its budget (llf.dagbuild.snapshot), and what a
command or a task can call to refresh on demand (e.g. right after registering many processes): the parses
then find a fresh cache and never wait for the control DB. Exit status 0 when the cache was refreshed or
another refresh was already running, 1 when the control tables could not be read (the parses keep serving
the last snapshot and say why).
"""

from __future__ import annotations

import logging
import sys

from llf.dagbuild.snapshot import refresh_lock, refresh_snapshot
from llf.exceptions import ConfigurationError, ControlDatabaseError
from llf.settings import state_dir

log = logging.getLogger("llf.dagbuild.refresh")


def main() -> int:
    """One refresh under the refresh lock; a second one started meanwhile has nothing to do."""
    folder = state_dir()
    with refresh_lock(folder) as held:
        if not held:
            log.info("Another llf snapshot refresh is running (%s is locked); nothing to do.", folder)
            return 0
        try:
            catalog = refresh_snapshot()
        except Exception as error:
            expected = isinstance(error, ControlDatabaseError | ConfigurationError)
            log.error("Refreshing the llf snapshot failed: %s", " ".join(str(error).split()), exc_info=not expected)
            return 1
    log.info("llf snapshot refreshed in %.1f s: %d processes, %d stream(s) with problems.",
             catalog.refresh_seconds, len(catalog.snapshot.processes), len(catalog.problems))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main())
