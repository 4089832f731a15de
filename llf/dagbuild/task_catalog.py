"""What a task's parse builds its DAG from when the snapshot cache cannot serve it: that DAG's rows only.

A Celery worker that is fresh (no cache) or ran nothing for a while (a cache older than a task may build from,
llf.dagbuild.snapshot.cached_catalog_for_task) used to refresh the whole catalog at each task start: every
registration read and validated, every notebook opened, by each of the task starts running at once. A task
needs one DAG: its stream's registrations and those of the streams its processes depend on, which
llf.control.repository.read_task_snapshot reads in one statement, judged on the registrations alone (as
Catalog.for_task judges a task's DAG). The shared cache is left to the dag-processor: this catalog is partial.

A database that blinks (a restart, a failover, a dropped connection) is retried briefly within Airflow's import
timeout; one that stays away leaves the caller the last cache, whatever its age, and without one a sentence
naming LLF_CONTROL_DB_URL (task_parse_failed).
"""

from __future__ import annotations

import logging
import time

from llf.control.model import process_dag_id, stream_dag_id
from llf.dagbuild.catalog import Catalog
from llf.dagbuild.config import patience_seconds
from llf.exceptions import ControlDatabaseError
from llf.settings import control_db_url
from llf.text import one_line

log = logging.getLogger(__name__)

# Pauses between the attempts to read a task's rows: a database restart or failover is over within a few seconds.
RETRY_PAUSES_SECONDS = (1.0, 2.0, 4.0)


def task_catalog(dag_id: str) -> Catalog:
    """The catalog of the registrations `dag_id` is built from, read with retries (RETRY_PAUSES_SECONDS, within
    Airflow's import timeout less a margin); the last ControlDatabaseError when every attempt failed.
    ConfigurationError (no control database configured) is raised at once: waiting cannot fix a setting."""
    deadline = time.monotonic() + patience_seconds()
    pauses = iter(RETRY_PAUSES_SECONDS)
    while True:
        try:
            return _read(dag_id, deadline - time.monotonic())
        except ControlDatabaseError as error:
            pause = next(pauses, None)
            if pause is None or time.monotonic() + pause >= deadline:
                raise
            log.warning("Reading the llf registrations of %s failed (%s); trying again in %g s.",
                        dag_id, one_line(error), pause)
            time.sleep(pause)


def _read(dag_id: str, seconds_left: float) -> Catalog:
    # Imported here: a parse served by the cache never needs psycopg2.
    from llf.control.repository import read_task_snapshot

    strem_nm = _named(dag_id, stream_dag_id(""))
    prcs_nm = _named(dag_id, process_dag_id(""))
    rows = read_task_snapshot(control_db_url(), strem_nm=strem_nm, prcs_nm=prcs_nm,
                              timeout_seconds=max(1.0, seconds_left))
    return Catalog.of_task(rows.snapshot, rows.waiting_triggers)


def _named(dag_id: str, prefix: str) -> str | None:
    """The stream or process name in an llf DAG id of that kind (stream__x, process__x), else None."""
    return dag_id.removeprefix(prefix) if dag_id.startswith(prefix) else None


def task_parse_failed(dag_id: str, task_id: str, error: Exception) -> ControlDatabaseError:
    """The one sentence a task's parse fails with when its rows cannot be read and no cache holds its DAG."""
    attempts = len(RETRY_PAUSES_SECONDS) + 1
    return ControlDatabaseError(
        f"Task {task_id} of DAG {dag_id} cannot start: its llf registrations could not be read from the control "
        f"database ({one_line(error)}; up to {attempts} attempts) and no llf snapshot cached on this worker holds "
        "its DAG. Fix: point LLF_CONTROL_DB_URL (or the Airflow connection cntl_af) of this worker at a control "
        "database it can reach, and clear the task to run it again.")
