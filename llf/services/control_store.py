"""Best-effort writes of service records (progress, LLM usage and cache) to the control database.

Notebooks must keep working without a control DB (plain Jupyter), so every writer here degrades to
"not recorded" with one warning instead of failing the notebook.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import psycopg2
import psycopg2.extensions

from llf.control.attempt_tokens import session_options
from llf.db import connect
from llf.exceptions import LlfError
from llf.secrets import redact
from llf.settings import ATTEMPT_TOKEN, CONTROL_DB_URL

if TYPE_CHECKING:
    from psycopg2.extras import Json

    from llf.context import RunContext

RETRY_AFTER_S = 60.0

log = logging.getLogger(__name__)


def configured_control_url() -> str | None:
    """LLF_CONTROL_DB_URL, else None.

    Deliberately not the Airflow connection fallback of llf.settings: outside a task that lookup takes
    ~20 s, and a papermill kernel is not a task process, so the runner exports LLF_CONTROL_DB_URL instead.
    """
    return CONTROL_DB_URL.read() or None


class ControlStore:
    """One shared autocommit connection, reopened after a failure; safe to use from several threads.

    With an attempt token (LLF_ATTEMPT_TOKEN, which the runner hands a notebook's kernel) the session speaks for
    that attempt: as the notebook role it then reads and writes the rows of its own attempt and stream alone
    (llf.control.attempt_tokens); without one, a notebook session gets none, and the owner's is unaffected.
    """

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self._options: dict[str, Any] = {"options": session_options(token)} if token else {}
        self._connection: psycopg2.extensions.connection | None = None
        self._lock = threading.Lock()
        self._warned = False
        self._down_until = 0.0

    def execute(self, statement: str, parameters: tuple | dict | None = None) -> list[tuple]:
        """Run one parameterised statement; raises on failure (callers decide whether that is fatal)."""
        with self._lock:
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = connect(self.url, **self._options)
                    self._connection.autocommit = True
                with self._connection.cursor() as cursor:
                    cursor.execute(statement, parameters)
                    return cursor.fetchall() if cursor.description else []
            except psycopg2.Error:
                self.close_unlocked()
                raise

    def try_execute(self, statement: str, parameters: tuple | dict | None = None) -> list[tuple] | None:
        """Like execute, but a failure is logged once and answered with None.

        An unreachable DB is not retried for a minute, so a notebook is not slowed by a timeout per call.
        """
        if time.monotonic() < self._down_until:
            return None
        try:
            return self.execute(statement, parameters)
        except (psycopg2.Error, LlfError) as error:
            if isinstance(error, LlfError):
                self._down_until = time.monotonic() + RETRY_AFTER_S
            if not self._warned:
                self._warned = True
                log.warning("llf: not recorded in the control DB %s: %s", redact(self.url), error)
            return None

    def record_progress(self, run: RunContext, message: str) -> None:
        """A progress line against the run (cntl_prcs_progress): what `llf status`, the UI and the demo show
        while the process runs."""
        self.try_execute(
            "INSERT INTO cntl_af.cntl_prcs_progress (log_id, prcs_nm, business_date, run_id, message)"
            " VALUES (%s, %s, %s, %s, %s)",
            (run.log_id, run.prcs_nm, run.business_date, run.run_id, str(message)),
        )

    def close_unlocked(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None


_stores: dict[tuple[str, str | None], ControlStore] = {}
_stores_lock = threading.Lock()


def control_store(url: str | None = None) -> ControlStore | None:
    """The store of `url` (default LLF_CONTROL_DB_URL) with this process's attempt token (LLF_ATTEMPT_TOKEN), shared
    per URL and token; None when there is no URL."""
    url = url or configured_control_url()
    if url is None:
        return None
    token = ATTEMPT_TOKEN.read() or None
    with _stores_lock:
        store = _stores.get((url, token))
        if store is None:
            store = _stores[(url, token)] = ControlStore(url, token)
        return store


def as_json(value: Any) -> Json:
    """A value adapted for a jsonb parameter."""
    from psycopg2.extras import Json

    return Json(value)
