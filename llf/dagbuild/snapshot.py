"""The on-disk snapshot cache: the control tables are read at most once per refresh interval, and never
in a way that can turn the DAG file into an import error.

Every DAG file parse calls `load_catalog()`. While the cache is younger than LLF_SNAPSHOT_REFRESH_SECONDS it
is served as is; otherwise it is refreshed: the control DB is read once, validated and written back
atomically (temporary file + os.replace, so a reader never sees half a file). `refresh_snapshot()` does that
and is all a refresh is, wherever it runs:
- in the parse, on a worker thread the parse waits for at most LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS (10 s, a
  third of Airflow's dagbag_import_timeout). A refresh that outlasts it is handed to a background process
  (`python -m llf.dagbuild.refresh`, in its own session so it outlives the parse, given the control DB URL
  the parse resolved) and the parse serves the last snapshot; the next parse after it finished builds from
  the new one;
- straight in that background process when the last refresh took over half the budget (the cache records
  how long), so a large registry never makes a parse wait for the control DB;
- from a command or a task (`llf.dagbuild.refresh.main`), e.g. right after registering many processes.
One refresh at a time holds REFRESH_LOCK_NAME; a parse finding it held serves the cache meanwhile, and warns,
naming the refresh and how to end it, once the cache has grown far older than a refresh takes (stuck_after_seconds).
With no usable cache (first start, or an unreadable one) there is nothing to serve, so the parse waits up to
Airflow's dagbag_import_timeout less PARSE_MARGIN_SECONDS instead of the budget. Only a refresh outlasting
that is handed off, and the parse then builds no DAG and logs an error saying so: Airflow marks the llf
DAGs it knew from earlier parses stale until the background refresh has filled the cache (`llf refresh`
before starting Airflow avoids it). A parse of one DAG (a dag id in Airflow's parsing context) never hands
off: it needs its DAG, so it waits for its refresh within the same bound (see _load_for_task); a task's parse
(a task id as well) does not refresh here at all (see the end of this docstring).

When the DB cannot be reached or read (down, schema not upgraded, connection lost mid-query) the last cache
keeps serving, with a warning, so no DAG disappears; the failed attempt is remembered so an outage costs one
connection attempt per interval, not one per parse. Writing the cache is best effort: a read-only or full
LLF_STATE_DIR costs a warning and the cache, never the DAGs (the parse then refreshes in place every time).
A task start first tries `cached_catalog_for_task()`, which skips the refresh when the cache holds its task;
when it does not, the task reads only its DAG's rows (llf.dagbuild.task_catalog), never refreshing this cache,
and falls back on `last_cached_catalog()` when the control DB cannot be read.
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
from typing import IO

from pydantic import ValidationError

from llf.control.model import Snapshot
from llf.dagbuild.catalog import Catalog
from llf.dagbuild.config import PARSE_MARGIN_SECONDS, patience_seconds, refresh_budget_seconds, refresh_seconds
from llf.exceptions import ConfigurationError, ControlDatabaseError, StateDirError
from llf.settings import control_db_url, state_dir
from llf.text import one_line

log = logging.getLogger(__name__)

CACHE_NAME = "snapshot.json"
FAILURE_NAME = "snapshot.refresh-failed"
REFRESH_LOCK_NAME = "snapshot.refresh.lock"
REFRESH_LOG_NAME = "snapshot.refresh.log"  # what the last background refresh printed
# How old a cache a task process may build its own DAG from (see cached_catalog_for_task).
TASK_CACHE_MAX_AGE_SECONDS = 300.0
# A refresh running this many times longer than a refresh takes looks stuck (stuck_after_seconds).
STUCK_FACTOR = 3


def load_catalog(for_task: bool = False) -> Catalog:
    """The registrations to build DAGs from: cached, refreshed, or the last good one during an outage or
    while a slow refresh finishes in the background. `for_task`: a task's parse, which needs its own DAG and
    so never hands the refresh off (see _load_for_task)."""
    interval, budget, folder = refresh_seconds(), refresh_budget_seconds(), state_dir()
    cache, failure = folder / CACHE_NAME, folder / FAILURE_NAME
    cached = _read_cache(cache)
    last_attempt = max(_mtime(cache), _mtime(failure))
    if cached is not None and time.time() - last_attempt < interval:
        if _mtime(failure) > _mtime(cache):
            _warn_stale(cached, _read_text(failure))
        return cached
    if for_task:
        return _load_for_task(cached, folder)
    if refresh_running(folder):
        return _await_background(cached, folder)
    if cached is not None and cached.refresh_seconds > budget / 2:
        return _hand_off(cached, folder, budget)
    # With nothing to serve, waiting up to Airflow's import timeout beats a parse with no DAG: Airflow would
    # mark every llf DAG stale.
    return _refresh_within(budget if cached is not None else max(budget, patience_seconds()), cached, folder)


def refresh_snapshot(abandoned: Callable[[], bool] = lambda: False, must_write: bool = False,
                     db_url: str | None = None) -> Catalog:
    """Read the control DB, validate, write the cache (atomically); the fresh catalog.

    On a failure to read, the failure marker is written (so parses warn, and retry once per interval) and the
    error raised. Nothing is written once `abandoned()` says the caller gave up waiting: the background
    refresh that took over owns the cache then. The write is best effort for a parse (the fresh catalog
    still builds the DAGs); with `must_write` (a refresh whose only product is the cache) a failed write
    raises StateDirError naming the path. `db_url`: the control DB given explicitly, else control_db_url()'s.
    """
    folder = state_dir()
    started = time.monotonic()
    try:
        fresh = _read_database(db_url)
    except Exception as error:
        if not abandoned():
            _write_best_effort(folder / FAILURE_NAME, str(error))
        raise
    fresh = fresh.model_copy(update={"refresh_seconds": time.monotonic() - started})
    if not abandoned() and _write_cache(folder / CACHE_NAME, fresh.model_dump_json(), must_write):
        _remove_best_effort(folder / FAILURE_NAME)
    return fresh


@contextmanager
def refresh_lock(folder: Path, wait_seconds: float = 0.0, record_holder: bool = False) -> Iterator[bool]:
    """Hold the refresh lock of `folder` while inside; yields False (holding nothing) when another process
    still holds it after `wait_seconds`. Raises StateDirError when the lock file cannot be opened or locked:
    a caller that needs the lock must not mistake a broken LLF_STATE_DIR for a refresh running elsewhere.

    The lock is a flock: a holder that dies releases it, so a held lock always means a live refresh.
    `record_holder` (a refresh, not a parse's glance): the lock file then holds the pid, and its mtime says
    since when, for the warning about a refresh that looks stuck (_warn_stuck)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / REFRESH_LOCK_NAME, "a")  # noqa: SIM115 (closed below, after the unlock)
    except OSError as error:
        raise StateDirError(_lock_problem(folder, error)) from error
    with handle:
        if not _take_lock(handle, folder, wait_seconds):
            yield False
            return
        try:
            if record_holder:
                _record_holder(handle)
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refresh_running(folder: Path) -> bool:
    """Whether a refresh holds the lock of `folder` right now (another process, or the background one).
    A lock file that cannot be opened means none can: the parse then refreshes in place (best effort)."""
    if not (folder / REFRESH_LOCK_NAME).exists():
        return False
    try:
        with refresh_lock(folder) as held:
            return not held
    except StateDirError:
        return False


def _record_holder(handle: IO[str]) -> None:
    """Write this process's pid into the held lock file (best effort: only a warning would miss it)."""
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
    except OSError as error:
        log.debug("Cannot record the llf snapshot refresh's pid in its lock file: %s", error)


def _take_lock(handle: IO[str], folder: Path, wait_seconds: float) -> bool:
    """Lock `handle`, retrying for `wait_seconds` while another process holds it (a parse checks it for a
    moment in refresh_running); False when it is still held then."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        except OSError as error:  # e.g. ENOLCK on a network file system: no lock is possible there
            raise StateDirError(_lock_problem(folder, error)) from error


def _lock_problem(folder: Path, error: OSError) -> str:
    return (f"LLF_STATE_DIR {folder} cannot hold the llf snapshot refresh lock ({error}), so no snapshot cache "
            "can be written there. Fix: make LLF_STATE_DIR a writable local folder.")


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


def last_cached_catalog() -> Catalog | None:
    """The cache whatever its age, or None: what a task builds from when the control DB cannot be read
    (llf.dagbuild.task_catalog), as a parse serves the last snapshot during an outage."""
    return _read_cache(state_dir() / CACHE_NAME)


def _refresh_within(wait: float, cached: Catalog | None, folder: Path, hand_off: bool = True) -> Catalog:
    """Refresh on a worker thread, waiting for it at most `wait` seconds; past that, hand the refresh over
    to a background process (a thread dies with the parse process) and serve the last snapshot, or, for a
    task's parse (not `hand_off`), give up as _task_gave_up says."""
    outcome: dict[str, object] = {}
    abandoned = threading.Event()

    def work() -> None:
        try:
            outcome["catalog"] = refresh_snapshot(abandoned.is_set)
        except BaseException as error:  # noqa: BLE001 - handed to the parse below, which raises it on its thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="llf-snapshot-refresh", daemon=True)
    worker.start()
    worker.join(wait)
    if worker.is_alive():
        abandoned.set()
        return _hand_off(cached, folder, wait) if hand_off else _task_gave_up(cached, folder, wait)
    error = outcome.get("error")
    if isinstance(error, BaseException):
        if not isinstance(error, Exception):
            raise error
        return _serve_last(cached, folder / CACHE_NAME, error)
    return outcome["catalog"]  # type: ignore[return-value]


def _load_for_task(cached: Catalog | None, folder: Path) -> Catalog:
    """A task's parse needs the DAG of its task, which a handed-off refresh cannot give it in time (an empty
    or stale catalog fails the task): it waits for a refresh running elsewhere, then refreshes itself if that
    wrote no new cache, all within Airflow's import timeout less a margin (patience_seconds)."""
    deadline = time.monotonic() + patience_seconds()
    cache = folder / CACHE_NAME
    if refresh_running(folder):
        before = _mtime(cache)
        while refresh_running(folder) and time.monotonic() < deadline:
            time.sleep(0.1)
        renewed = _read_cache(cache) if _mtime(cache) > before else None
        if renewed is not None:
            return renewed
    return _refresh_within(max(0.0, deadline - time.monotonic()), cached, folder, hand_off=False)


def _task_gave_up(cached: Catalog | None, folder: Path, waited: float) -> Catalog:
    """A task's refresh outlasted Airflow's import timeout (less a margin): the last snapshot, else an error
    saying so (Airflow would kill the parse moments later with a less telling one)."""
    if cached is None:
        raise ControlDatabaseError(
            f"No llf DAG can be built for this task: reading the control tables took longer than {waited:g} s "
            f"(Airflow's dagbag_import_timeout less {PARSE_MARGIN_SECONDS:g} s) and no snapshot is cached at "
            f"{folder / CACHE_NAME}. Fix: run `llf refresh` where the DAG files are parsed, or raise "
            "dagbag_import_timeout.")
    log.warning("Refreshing the llf snapshot took longer than %g s in this task's parse; building from the "
                "snapshot taken at %s.", waited, cached.snapshot.taken_at.isoformat())
    return cached


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


def _hand_off(cached: Catalog | None, folder: Path, waited: float) -> Catalog:
    """Start the background refresh and serve the last snapshot, or with none (after waiting up to Airflow's
    import timeout less a margin) no DAG at all: see the module docstring for what that costs."""
    pid = _start_background_refresh(folder)
    where = f"in the background (pid {pid}, log {folder / REFRESH_LOG_NAME})" if pid else "nowhere (see above)"
    if cached is None:
        log.error("Building the first llf snapshot of the control tables takes longer than %g s (Airflow's "
                  "dagbag_import_timeout less %g s); it goes on %s, and the llf DAGs appear at the first parse "
                  "after it. Until then no llf DAG is built. Fix: run `llf refresh` where the DAG files are "
                  "parsed.", waited, PARSE_MARGIN_SECONDS, where)
        return _no_snapshot()
    log.warning("Refreshing the llf snapshot takes longer than %g s (the last took %.1f s); it goes on %s. "
                "Serving the snapshot taken at %s meanwhile.", waited, cached.refresh_seconds, where,
                cached.snapshot.taken_at.isoformat())
    return cached


def _await_background(cached: Catalog | None, folder: Path) -> Catalog:
    """A refresh runs elsewhere: serve the cache now, or with none wait for the one it writes (up to Airflow's
    import timeout less a margin: a parse with no DAG lets Airflow mark every llf DAG stale)."""
    if cached is None:
        deadline = time.monotonic() + patience_seconds()
        while refresh_running(folder) and time.monotonic() < deadline:
            time.sleep(0.1)
        cached = _read_cache(folder / CACHE_NAME)
        if cached is None:
            log.error("The first llf snapshot is still being built by another process (log %s); the llf DAGs "
                      "appear at the first parse after it. Until then no llf DAG is built.",
                      folder / REFRESH_LOG_NAME)
            return _no_snapshot()
    age = time.time() - _mtime(folder / CACHE_NAME)
    if age > stuck_after_seconds(cached):
        _warn_stuck(cached, folder, age)
    else:
        log.info("An llf snapshot refresh is running elsewhere; serving the snapshot taken at %s.",
                 cached.snapshot.taken_at.isoformat())
    return cached


def stuck_after_seconds(cached: Catalog) -> float:
    """How old the served cache may get while a refresh runs before the parse calls that refresh stuck: the
    refresh interval (the cache is due then) plus STUCK_FACTOR times what a refresh takes (the budget, or the
    last refresh's own time when longer). Until then an INFO line; past it, a refresh that never ends would
    otherwise serve an ever older snapshot with nothing louder."""
    return refresh_seconds() + STUCK_FACTOR * max(refresh_budget_seconds(), cached.refresh_seconds)


def _warn_stuck(cached: Catalog, folder: Path, age: float) -> None:
    """Name the stuck refresh (its pid, since when it holds the lock, its log) and how to end it."""
    lock = folder / REFRESH_LOCK_NAME
    pid = _read_text(lock).strip() or "unknown"
    log.warning(
        "The llf snapshot served is %s old (taken at %s): the background refresh holding %s (pid %s, for %s) "
        "has not finished, and looks stuck; registration changes since are not in the DAGs. See its log %s. "
        "If it waits on the control database (a lock, a connection that never answers), end that wait, or "
        "stop the refresh (kill %s): the next parse starts a new one.",
        _minutes(age), cached.snapshot.taken_at.isoformat(), lock, pid, _minutes(time.time() - _mtime(lock)),
        folder / REFRESH_LOG_NAME, pid,
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def _start_background_refresh(folder: Path) -> int | None:
    """Start `python -m llf.dagbuild.refresh` in its own session (it outlives the parse); its pid, or None."""
    source_root = str(Path(__file__).resolve().parents[2])  # llf importable however the parse found it
    python_path = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / REFRESH_LOG_NAME, "wb") as output:
            child = subprocess.Popen(
                [sys.executable, "-m", "llf.dagbuild.refresh"], stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True, env=_child_environment(python_path),
            )
    except OSError as error:
        log.error("Cannot start the background llf snapshot refresh (%s). Fix: make LLF_STATE_DIR a writable "
                  "folder, or run the refresh yourself: python -m llf.dagbuild.refresh", error)
        return None
    _BACKGROUND.append(child)  # kept, so Python reaps it quietly when this process lives on (tests, a UI)
    return child.pid


_BACKGROUND: list[subprocess.Popen[bytes]] = []


def _child_environment(python_path: str) -> dict[str, str]:
    """The parse's environment, plus the control DB URL as the parse resolved it (LLF_CONTROL_DB_URL).

    In the dag-processor the Airflow connection cntl_af is found through the parse's supervisor, which the
    background process lacks: left to itself it would find no control DB and fail every time. The URL goes
    in the environment, never on the command line (`ps` shows that to every user) nor in a log. When the
    parse cannot resolve it either, the child tries itself and its log says why.
    """
    environment = {**os.environ, "PYTHONPATH": python_path}
    try:
        environment["LLF_CONTROL_DB_URL"] = control_db_url()
    except Exception:  # noqa: BLE001 - not resolvable here: the child's own attempt reports it
        log.debug("The background llf snapshot refresh resolves the control DB itself.")
    return environment


def _no_snapshot() -> Catalog:
    return Catalog(snapshot=Snapshot(taken_at=dt.datetime.now(dt.UTC)))


def _read_database(db_url: str | None = None) -> Catalog:
    """Read and validate, with what lives for the rest of the process frozen out of the collector's sight.

    Validation allocates (notebooks read, rows checked) while the heap holds Airflow's imports and the
    snapshot: each full collection walked all of it, so the refresh of 10,000 processes took 1.3 s more than
    2.5 times that of 4,000. gc.freeze() (as in llf.dagbuild.builder) makes it linear; those objects live as
    long as the process anyway, and temporaries are still freed by reference counting and the collector.
    """
    # Imported here: the common path (fresh cache) never needs psycopg2 or nbformat.
    from llf.control.repository import read_snapshot
    from llf.settings import notebooks_dir

    gc.freeze()
    snapshot = read_snapshot(control_db_url(db_url))
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
        one_line(reason),
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


def _write_cache(path: Path, text: str, must_write: bool) -> bool:
    """Write the cache: best effort for a parse; for a refresh whose only product is the cache, a failure
    is an error naming the path (StateDirError), so `llf refresh` never claims a refresh it did not write."""
    if not must_write:
        return _write_best_effort(path, text)
    try:
        _write_atomically(path, text)
    except OSError as error:
        raise StateDirError(f"Cannot write the llf snapshot cache {path} ({error}). Fix: make LLF_STATE_DIR a "
                            "writable folder with free space.") from error
    return True


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
