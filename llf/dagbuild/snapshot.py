"""The on-disk snapshot cache: the control tables are read at most once per refresh interval.

Every DAG file parse calls `load_catalog()`. While the cache is younger than
LLF_SNAPSHOT_REFRESH_SECONDS it is served as is; otherwise the control DB is read once, validated and
written back atomically (temporary file + os.replace, so a reader never sees half a file). When the
DB cannot be reached or read (down, schema not upgraded, connection lost mid-query) the last cache keeps
serving, with a warning, so no DAG disappears; the failed attempt is remembered so an outage costs one
connection attempt per interval, not one per parse. Writing the cache is best effort: a read-only or
full LLF_STATE_DIR costs a warning and the cache, never the DAGs.
A task start first tries `cached_catalog_for_task()`, which skips the refresh when the cache holds
its task.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from pydantic import ValidationError

from llf.dagbuild.catalog import Catalog
from llf.dagbuild.config import refresh_seconds
from llf.exceptions import ConfigurationError, ControlDatabaseError
from llf.settings import state_dir

log = logging.getLogger(__name__)

CACHE_NAME = "snapshot.json"
FAILURE_NAME = "snapshot.refresh-failed"
# How old a cache a task process may build its own DAG from (see cached_catalog_for_task).
TASK_CACHE_MAX_AGE_SECONDS = 300.0


def load_catalog() -> Catalog:
    """The registrations to build DAGs from: cached, refreshed, or the last good one during an outage."""
    interval, folder = refresh_seconds(), state_dir()
    cache, failure = folder / CACHE_NAME, folder / FAILURE_NAME
    cached = _read_cache(cache)
    last_attempt = max(_mtime(cache), _mtime(failure))
    if cached is not None and time.time() - last_attempt < interval:
        if _mtime(failure) > _mtime(cache):
            _warn_stale(cached, _read_text(failure))
        return cached
    try:
        fresh = _read_database()
    except Exception as error:  # any failure to refresh: the last snapshot serves
        if not isinstance(error, ControlDatabaseError | ConfigurationError):
            log.error("Refreshing the llf snapshot failed unexpectedly", exc_info=True)
        if cached is None:
            fix = "" if "Fix:" in str(error) else (
                " Fix: start the control database or point LLF_CONTROL_DB_URL (or the Airflow connection "
                "cntl_af) at it.")
            raise ControlDatabaseError(
                f"No llf DAGs can be built: {error} And no snapshot is cached at {cache} to fall back on.{fix}"
            ) from error
        _write_best_effort(failure, str(error))
        _warn_stale(cached, str(error))
        return cached
    if _write_best_effort(cache, fresh.model_dump_json()):
        _remove_best_effort(failure)
    return fresh


def cached_catalog_for_task() -> Catalog | None:
    """The cache as it is, for a task process, when it is at most TASK_CACHE_MAX_AGE_SECONDS (or the
    refresh interval, if longer) old; None otherwise.

    Why a task may skip the refresh: the dag-processor keeps this cache fresh, and what a task reads
    from its DAG is either re-read by the runner at run time (params, notebook, timeout) or decided
    by the scheduler's serialized DAG (shape, trigger rules). A refresh per task start would cost a
    control DB read and a validation of every notebook (seconds with 1000 processes) on every task.
    The caller still refreshes when the cache does not hold the task being run.
    """
    cache = state_dir() / CACHE_NAME
    if time.time() - _mtime(cache) > max(refresh_seconds(), TASK_CACHE_MAX_AGE_SECONDS):
        return None
    return _read_cache(cache)


def _read_database() -> Catalog:
    # Imported here: the common path (fresh cache) never needs psycopg2 or nbformat.
    from llf.control.repository import read_snapshot
    from llf.settings import control_db_url, notebooks_dir

    return Catalog.of(read_snapshot(control_db_url()), notebooks_dir())


def _read_cache(cache: Path) -> Catalog | None:
    """The cached catalog, or None when there is none or it cannot be read (then the DB decides)."""
    try:
        return Catalog.model_validate_json(cache.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as error:
        log.warning("Ignoring the unreadable llf snapshot cache %s: %s", cache, error)
        return None


def _warn_stale(cached: Catalog, reason: str) -> None:
    log.warning(
        "llf control database unreachable or unreadable (%s); serving the snapshot taken at %s.",
        " ".join(reason.split()),
        cached.snapshot.taken_at.isoformat(),
    )


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # missing, or LLF_STATE_DIR is no folder: no cache either way
        return 0.0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return f"unknown ({error})"


def _write_best_effort(path: Path, text: str) -> bool:
    """Write the cache (or the failure marker); a full disk or a read-only LLF_STATE_DIR costs a warning,
    never the DAGs: without a cache every parse reads the control tables, and an outage finds no fallback."""
    try:
        _write_atomically(path, text)
        return True
    except OSError as error:
        log.warning("Cannot write the llf snapshot cache %s (%s); DAGs are built without it. "
                    "Fix: make LLF_STATE_DIR a writable folder with free space.", path, error)
        return False


def _remove_best_effort(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        log.warning("Cannot remove %s (%s)", path, error)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
