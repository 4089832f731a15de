"""At most once: a PostgreSQL advisory lock per (process, business date), held while the attempt runs.

A second run for the same process and date waits on the lock instead of polling the log, and when a
worker dies its connection closes and PostgreSQL releases the lock at once; so a RUNNING row whose lock
nobody holds is a dead attempt (llf.control.log sweeps those).

The lock is only as good as its session. A PostgreSQL restart, pg_terminate_backend, an idle-session
killer or a transaction-mode pooler ends or swaps the session under a live worker and PostgreSQL drops
the lock without a word. So the session has TCP keepalives at both ends (a host that vanishes must not
keep its lock for the OS's two hours, see _DEAD_PEER_AFTER_MS), and a watchdog thread asks it every
LLF_LOCK_CHECK_SECONDS whether it still holds the lock; the first answer that is not "yes" (an error
included) marks the lock lost and calls the run's `on_lost` callbacks, which stop its kernel.

Every piece of SQL about this lock is here: the key, taking it, and recognising it in pg_locks.
- Key: one bigint, hashtextextended(prcs_nm || '|' || 'YYYY-MM-DD', seed). 64 bits, so unrelated runs
  practically never share a key (32-bit hashtext keys made them wait on each other). The date is
  formatted with to_char, not ::text, so the key does not depend on the session's DateStyle.
- Namespace: the seed is hashtextextended('llf.process-run', 0); another single-bigint lock of llf would
  use a seed of its own. The app's two-integer advisory locks (stream runs, llf.control.stream_runs)
  are a separate key space in PostgreSQL (objsubid 2 in pg_locks, 1 for the bigint form).
- pg_locks shows a bigint key as classid = its high 32 bits, objid = its low 32 bits (both unsigned,
  type oid), objsubid = 1, database = the OID of the database it was taken in.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from llf.db import connect, one_row
from llf.exceptions import LlfError
from llf.settings import lock_check_seconds

log = logging.getLogger(__name__)

_SEED_SQL = "hashtextextended('llf.process-run', 0)"
_THIS_DATABASE_SQL = "(SELECT oid FROM pg_database WHERE datname = current_database())"

# How long the lock session may hear nothing from the other end before that end counts as gone: one set of
# numbers for both ends of the session. A worker host that vanishes (crash, power, cable, partition) closes
# nothing, so without them the server keeps its session, and with it the lock, until the OS's own keepalive
# notices (net.ipv4.tcp_keepalive_time: 7200 s by default): the RUNNING row cannot be swept and the retry
# waits in pg_advisory_lock for two hours. With them the server drops the session about 12 s after it last
# heard from the host (idle 5 s, then 3 unanswered probes 2 s apart; tcp_user_timeout bounds data left
# unacknowledged just as long), and the worker's end gives up on the same bounds, so a cut-off worker's
# watchdog stops its kernel about when the server lets another run take the lock. Probes are answered by
# the peer's kernel, not by the worker or postgres, so a busy host does not look dead: only a silent network.
_KEEPALIVE_IDLE_S = 5
_KEEPALIVE_INTERVAL_S = 2
_KEEPALIVE_COUNT = 3
_DEAD_PEER_AFTER_MS = 1000 * (_KEEPALIVE_IDLE_S + _KEEPALIVE_INTERVAL_S * _KEEPALIVE_COUNT + 1)

# The worker's end: libpq's connection options (tcp_user_timeout needs libpq >= 12, see _lock_session).
_CLIENT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": _KEEPALIVE_IDLE_S,
                      "keepalives_interval": _KEEPALIVE_INTERVAL_S, "keepalives_count": _KEEPALIVE_COUNT}

# The server's end: the same bounds as settings of the lock session only (PostgreSQL >= 12; ignored over a
# Unix socket, where no host can vanish). Set by SET once connected rather than through libpq's `options`
# startup parameter, which poolers such as PgBouncer refuse.
_SERVER_KEEPALIVES_SQL = (
    "SELECT set_config('tcp_keepalives_idle', %(idle)s, false), "
    "set_config('tcp_keepalives_interval', %(interval)s, false), "
    "set_config('tcp_keepalives_count', %(count)s, false), "
    "set_config('tcp_user_timeout', %(user_timeout)s, false)"
)
_SERVER_KEEPALIVES = {"idle": str(_KEEPALIVE_IDLE_S), "interval": str(_KEEPALIVE_INTERVAL_S),
                      "count": str(_KEEPALIVE_COUNT), "user_timeout": str(_DEAD_PEER_AFTER_MS)}


def lock_key_sql(prcs_nm_sql: str, business_date_sql: str) -> str:
    """SQL computing the lock key from two SQL expressions (the same formula for taking and inspecting)."""
    day = f"to_char(({business_date_sql})::date, 'YYYY-MM-DD')"
    return f"hashtextextended(({prcs_nm_sql}) || '|' || {day}, {_SEED_SQL})"


def lock_holders_sql(key_sql: str) -> str:
    """A SELECT of the pg_locks rows (alias k) granting the run lock with key `key_sql` in this database."""
    return (
        "SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1 "
        f"AND k.database = {_THIS_DATABASE_SQL} "
        f"AND k.classid::bigint = (({key_sql}) >> 32) & 4294967295 AND k.objid::bigint = ({key_sql}) & 4294967295"
    )


class RunLock:
    """The held run lock of one process and date, watched by a thread of its own.

    `lost` is None while the lock holds, else why it was lost; once lost it stays lost (PostgreSQL may
    have given it to another run meanwhile, so holding it again would prove nothing).
    """

    def __init__(self, connection: psycopg2.extensions.connection, key: int, label: str) -> None:
        self._connection = connection
        self.key = key
        self._label = label
        self._backend_pid = connection.get_backend_pid()
        self._session = threading.Lock()  # one query at a time on the lock's session
        self._lost: str | None = None
        self._on_lost: list[Callable[[str], None]] = []
        self._stopped = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name=f"llf-run-lock {label}", daemon=True)

    @property
    def lost(self) -> str | None:
        return self._lost

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` from the watchdog at every check once the lock is lost (so make it idempotent).

        Repeated because what it stops may not exist yet at the first call (a kernel still starting).
        """
        self._on_lost.append(callback)

    def check(self) -> str | None:
        """Ask the lock's session now whether it still holds the lock; return why it is lost, or None."""
        with self._session:
            if self._lost is None:
                self._lost = self._ask_session()
                if self._lost is not None:
                    log.error("run lock of %s lost: %s", self._label, self._lost)
        return self._lost

    def _ask_session(self) -> str | None:
        try:
            with self._connection.cursor() as cursor:
                cursor.execute(f"SELECT EXISTS ({lock_holders_sql('%(key)s::bigint')} AND k.pid = pg_backend_pid())",
                               {"key": self.key})
                held = one_row(cursor)[0]
        except Exception as error:  # noqa: BLE001 - any failure of the session means the lock is gone with it
            first_line = (str(error).strip().splitlines() or [""])[0]
            return f"its database session failed ({type(error).__name__}: {first_line})"
        if not held:
            return f"its database session (backend {self._backend_pid}) no longer holds it"
        return None

    def _watch(self) -> None:
        interval = lock_check_seconds()
        while not self._stopped.wait(interval):
            reason = self.check()
            if reason is None:
                continue
            for callback in self._on_lost:
                try:
                    callback(reason)
                except Exception:  # logged: the watchdog must keep going; the run still ends FAILED
                    log.exception("stopping the run of %s after its lock was lost failed", self._label)

    def start_watching(self) -> None:
        self._watchdog.start()

    def stop_watching(self) -> None:
        self._stopped.set()
        if self._watchdog.is_alive():
            self._watchdog.join(timeout=_DEAD_PEER_AFTER_MS / 1000)


class RunLockBusy(LlfError):
    """Another session held the run lock for the whole of the wait allowed (process_run_lock's wait_limit)."""

    def __init__(self, label: str, waited: dt.timedelta) -> None:
        super().__init__(f"the run lock of {label} was still held after a wait of {waited}")
        self.waited = waited


def _wait_for(cursor: psycopg2.extensions.cursor, key: int, label: str, wait_limit: dt.timedelta | None) -> None:
    """Wait for the lock, at most `wait_limit` (PostgreSQL's lock_timeout bounds the advisory lock's wait too)."""
    if wait_limit is None:
        cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
        return
    milliseconds = max(1, round(wait_limit.total_seconds() * 1000))  # 0 would mean no limit at all
    cursor.execute("SELECT set_config('lock_timeout', %s, false)", (f"{milliseconds}ms",))
    try:
        cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
    except psycopg2.errors.LockNotAvailable:
        raise RunLockBusy(label, wait_limit) from None
    cursor.execute("RESET lock_timeout")


def _lock_session(url: str) -> psycopg2.extensions.connection:
    """A session of its own for the lock, autocommit, which either end gives up on once the other is silent."""
    options: dict[str, int] = dict(_CLIENT_KEEPALIVES)
    if psycopg2.__libpq_version__ >= 120000:
        options["tcp_user_timeout"] = _DEAD_PEER_AFTER_MS
    connection = connect(url, application_name="llf run lock", **options)  # its errors hide the URL's secrets
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(_SERVER_KEEPALIVES_SQL, _SERVER_KEEPALIVES)
    except BaseException:
        connection.close()
        raise
    return connection


@contextmanager
def process_run_lock(url: str, prcs_nm: str, business_date: dt.date,
                     before_waiting: Callable[[], None] = lambda: None,
                     wait_limit: dt.timedelta | None = None) -> Iterator[RunLock]:
    """Hold the run lock of a process and date for the duration of the block (waiting if it is taken).

    The block gets the RunLock: watched from the moment it is granted until the block ends. When the lock
    is taken, `before_waiting` runs first: a wait can last another attempt's whole notebook, and what the
    caller holds meanwhile (idle control-DB sessions) could be ended under it. A wait longer than
    `wait_limit` (None: no limit) raises RunLockBusy: a hung holder must not hold every later run forever.
    """
    connection = _lock_session(url)
    label = f"{prcs_nm} {business_date}"
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {lock_key_sql('%s', '%s')}", (prcs_nm, business_date))
            key = one_row(cursor)[0]
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            if not one_row(cursor)[0]:
                before_waiting()
                _wait_for(cursor, key, label, wait_limit)
        lock = RunLock(connection, key, label)
        lock.start_watching()
        try:
            yield lock
        finally:
            lock.stop_watching()
    finally:
        connection.close()  # closing the session releases the lock
