"""The on-disk snapshot cache: the control tables are read at most once per refresh interval, and never
in a way that can turn the DAG file into an import error.

Every DAG file parse calls `load_catalog()`. While the cache is younger than LLF_SNAPSHOT_REFRESH_SECONDS it
is served as is; otherwise it is refreshed: the control DB is read once, validated and written back
atomically (temporary file + os.replace, so a reader never sees half a file). `refresh_snapshot()` does that
and is all a refresh is, wherever it runs:
- in the parse, on a worker thread the parse waits for at most LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS (10 s, a
  third of Airflow's dagbag_import_timeout). A refresh that outlasts it is handed to a background process
  (`python -m llf.dagbuild.refresh`, in its own session so it outlives the parse) and the parse serves the
  last snapshot; the next parse after it finished builds from the new one;
- straight in that background process when the last refresh took over half the budget (the cache records
  how long), so a large registry never makes a parse wait for the control DB;
- from a command or a task (`llf.dagbuild.refresh.main`), e.g. right after registering many processes.
One refresh at a time holds REFRESH_LOCK_NAME; a parse finding it held serves the cache meanwhile.
With no cache at all (first start) and a refresh still running past the budget, the parse builds no DAG and
logs an error saying so: there is no snapshot to serve, and the background refresh fills the cache for the
next parse. No DAG is lost that way: without a cache there were none to keep.

When the DB cannot be reached or read (down, schema not upgraded, connection lost mid-query) the last cache
keeps serving, with a warning, so no DAG disappears; the failed attempt is remembered so an outage costs one
connection attempt per interval, not one per parse. Writing the cache is best effort: a read-only or full
LLF_STATE_DIR costs a warning and the cache, never the DAGs (the parse then refreshes in place every time).
A task start first tries `cached_catalog_for_task()`, which skips the refresh when the cache holds its task.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import gc
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from llf.control.model import Snapshot
from llf.dagbuild.catalog import Catalog
from llf.dagbuild.config import refresh_budget_seconds, refresh_seconds
from llf.exceptions import ConfigurationError, ControlDatabaseError
from llf.settings import state_dir

log = logging.getLogger(__name__)

CACHE_NAME = "snapshot.json"
FAILURE_NAME = "snapshot.refresh-failed"
REFRESH_LOCK_NAME = "snapshot.refresh.lock"
REFRESH_LOG_NAME = "snapshot.refresh.log"  # what the last background refresh printed
# How old a cache a task process may build its own DAG from (see cached_catalog_for_task).
TASK_CACHE_MAX_AGE_SECONDS = 300.0


def load_catalog() -> Catalog:
    """The registrations to build DAGs from: cached, refreshed, or the last good one during an outage or
    while a slow refresh finishes in the background."""
    interval, budget, folder = refresh_seconds(), refresh_budget_seconds(), state_dir()
    cache, failure = folder / CACHE_NAME, folder / FAILURE_NAME
    cached = _read_cache(cache)
    last_attempt = max(_mtime(cache), _mtime(failure))
    if cached is not None and time.time() - last_attempt < interval:
        if _mtime(failure) > _mtime(cache):
            _warn_stale(cached, _read_text(failure))
        return cached
    if refresh_running(folder):
        return _await_background(cached, folder, budget)
    if cached is not None and cached.refresh_seconds > budget / 2:
        return _hand_off(cached, folder, budget)
    return _refresh_within(budget, cached, folder)


def refresh_snapshot(abandoned: Callable[[], bool] = lambda: False) -> Catalog:
    """Read the control DB, validate, write the cache (atomically, best effort); the fresh catalog.

    On a failure to read, the failure marker is written (so parses warn, and retry once per interval) and the
    error raised. Nothing is written once `abandoned()` says the caller gave up waiting: the background
    refresh that took over owns the cache then.
    """
    folder = state_dir()
    started = time.monotonic()
    try:
        fresh = _read_database()
    except Exception as error:
        if not abandoned():
            _write_best_effort(folder / FAILURE_NAME, str(error))
        raise
    fresh = fresh.model_copy(update={"refresh_seconds": time.monotonic() - started})
    if not abandoned() and _write_best_effort(folder / CACHE_NAME, fresh.model_dump_json()):
        _remove_best_effort(folder / FAILURE_NAME)
    return fresh


@contextmanager
def refresh_lock(folder: Path) -> Iterator[bool]:
    """Hold the refresh lock of `folder` while inside; yields False (holding nothing) when another process
    holds it, or when the lock file cannot be opened (then the caller cannot write the cache either)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / REFRESH_LOCK_NAME, "a")  # noqa: SIM115 (closed below, after the unlock)
    except OSError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refresh_running(folder: Path) -> bool:
    """Whether a refresh holds the lock of `folder` right now (another process, or the background one)."""
    if not (folder / REFRESH_LOCK_NAME).exists():
        return False
    with refresh_lock(folder) as held:
        return not held


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


def _refresh_within(budget: float, cached: Catalog | None, folder: Path) -> Catalog:
    """Refresh on a worker thread, waiting for it at most `budget` seconds; past that, hand the refresh over
    to a background process (a thread dies with the parse process) and serve the last snapshot."""
    outcome: dict[str, object] = {}
    abandoned = threading.Event()

    def work() -> None:
        try:
            outcome["catalog"] = refresh_snapshot(abandoned.is_set)
        except BaseException as error:  # handed to the parse below
            outcome["error"] = error

    worker = threading.Thread(target=work, name="llf-snapshot-refresh", daemon=True)
    worker.start()
    worker.join(budget)
    if worker.is_alive():
        abandoned.set()
        return _hand_off(cached, folder, budget)
    error = outcome.get("error")
    if isinstance(error, BaseException):
        if not isinstance(error, Exception):
            raise error
        return _serve_last(cached, folder / CACHE_NAME, error)
    return outcome["catalog"]  # type: ignore[return-value]


def _serve_last(cached: Catalog | None, cache: Path, error: Exception) -> Catalog:
    """The last snapshot, with a warning, after a failed refresh; an import error naming the fix without one."""
    if not isinstance(error, ControlDatabaseError | ConfigurationError):
        log.error("Refreshing the llf snapshot failed unexpectedly", exc_info=error)
    if cached is None:
        fix = "" if "Fix:" in str(error) else (
            " Fix: start the control database or point LLF_CONTROL_DB_URL (or the Airflow connection "
            "cntl_af) at it.")
        raise ControlDatabaseError(
            f"No llf DAGs can be built: {error} And no snapshot is cached at {cache} to fall back on.{fix}"
        ) from error
    _warn_stale(cached, str(error))
    return cached


def _hand_off(cached: Catalog | None, folder: Path, budget: float) -> Catalog:
    """Start the background refresh and serve the last snapshot (or none: see the module docstring)."""
    pid = _start_background_refresh(folder)
    where = f"in the background (pid {pid}, log {folder / REFRESH_LOG_NAME})" if pid else "nowhere (see above)"
    if cached is None:
        log.error("Building the first llf snapshot of the control tables takes longer than %g s "
                  "(LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS); it goes on %s, and the llf DAGs appear at the first "
                  "parse after it. Until then no llf DAG is built.", budget, where)
        return _no_snapshot()
    log.warning("Refreshing the llf snapshot takes longer than %g s (the last took %.1f s); it goes on %s. "
                "Serving the snapshot taken at %s meanwhile.", budget, cached.refresh_seconds, where,
                cached.snapshot.taken_at.isoformat())
    return cached


def _await_background(cached: Catalog | None, folder: Path, budget: float) -> Catalog:
    """A refresh runs elsewhere: serve the cache now, or with none wait up to `budget` for the one it writes."""
    if cached is None:
        deadline = time.monotonic() + budget
        while refresh_running(folder) and time.monotonic() < deadline:
            time.sleep(0.1)
        cached = _read_cache(folder / CACHE_NAME)
        if cached is None:
            log.error("The first llf snapshot is still being built by another process (log %s); the llf DAGs "
                      "appear at the first parse after it. Until then no llf DAG is built.",
                      folder / REFRESH_LOG_NAME)
            return _no_snapshot()
    log.info("An llf snapshot refresh is running elsewhere; serving the snapshot taken at %s.",
             cached.snapshot.taken_at.isoformat())
    return cached


def _start_background_refresh(folder: Path) -> int | None:
    """Start `python -m llf.dagbuild.refresh` in its own session (it outlives the parse); its pid, or None."""
    source_root = str(Path(__file__).resolve().parents[2])  # llf importable however the parse found it
    python_path = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / REFRESH_LOG_NAME, "wb") as output:
            child = subprocess.Popen(
                [sys.executable, "-m", "llf.dagbuild.refresh"], stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "PYTHONPATH": python_path},
            )
    except OSError as error:
        log.error("Cannot start the background llf snapshot refresh (%s). Fix: make LLF_STATE_DIR a writable "
                  "folder, or run the refresh yourself: python -m llf.dagbuild.refresh", error)
        return None
    _BACKGROUND.append(child)  # kept, so Python reaps it quietly when this process lives on (tests, a UI)
    return child.pid


_BACKGROUND: list[subprocess.Popen[bytes]] = []


def _no_snapshot() -> Catalog:
    return Catalog(snapshot=Snapshot(taken_at=dt.datetime.now(dt.UTC)))


def _read_database() -> Catalog:
    """Read and validate, with what lives for the rest of the process frozen out of the collector's sight.

    Validation allocates (notebooks read, rows checked) while the heap holds Airflow's imports and the
    snapshot: each full collection walked all of it, so the refresh of 10,000 processes took 1.3 s more than
    2.5 times that of 4,000. gc.freeze() (as in llf.dagbuild.builder) makes it linear; those objects live as
    long as the process anyway, and temporaries are still freed by reference counting and the collector.
    """
    # Imported here: the common path (fresh cache) never needs psycopg2 or nbformat.
    from llf.control.repository import read_snapshot
    from llf.settings import control_db_url, notebooks_dir

    gc.freeze()
    snapshot = read_snapshot(control_db_url())
    gc.freeze()
    return Catalog.of(snapshot, notebooks_dir())


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
