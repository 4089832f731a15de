"""Connections to the control database (PostgreSQL through psycopg2) and the transactions over them.

What a connection error shows of its URL passes through `llf.secrets` (no password in a message).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg2
import psycopg2.extensions

from llf.exceptions import ControlDatabaseError
from llf.secrets import redact, redact_message


def one_row(cursor: psycopg2.extensions.cursor) -> tuple[Any, ...]:
    """The row of a statement that always returns one (SELECT EXISTS ..., INSERT ... RETURNING): fetchone
    without its None, which only a statement that can find nothing returns; if one does, it says so here
    rather than as a TypeError on None further on."""
    row = cursor.fetchone()
    if row is None:
        raise LookupError("a statement that always returns a row returned none")
    return row


def connect(url: str, *, connect_timeout: int = 5, application_name: str = "llf",
            **options: Any) -> psycopg2.extensions.connection:
    """Open a connection; a driver error becomes one that names the URL without its secrets.

    psycopg2's own error can quote a piece of the URL (libpq rejecting a malformed one), so its text goes
    through `redact_message`, and it is not chained: a traceback would print it again, unredacted.
    """
    try:
        return psycopg2.connect(url, connect_timeout=connect_timeout, application_name=application_name, **options)
    except (psycopg2.OperationalError, psycopg2.ProgrammingError, UnicodeDecodeError) as error:
        unreadable = not isinstance(error, psycopg2.OperationalError)  # libpq could not parse or decode it
        problem = (f"The control database URL {redact(url)} is not valid" if unreadable
                   else f"Cannot reach the control database at {redact(url)}")
        raise ControlDatabaseError(f"{problem}: {redact_message(str(error).strip(), url)}") from None


class ReusedConnections:
    """The connections `transaction` reuses inside a `reused_connections` block, one per URL."""

    def __init__(self) -> None:
        self._connections: dict[str, psycopg2.extensions.connection] = {}

    @contextmanager
    def transaction(self, url: str) -> Iterator[psycopg2.extensions.cursor]:
        connection = self._connections.get(url)
        if connection is None or connection.closed:
            connection = self._connections[url] = connect(url)
        try:
            with connection.cursor() as cursor:
                yield cursor
            connection.commit()
        except BaseException:
            if not connection.closed:  # a broken session cannot roll back: the error that broke it is raised
                connection.rollback()
            raise
        finally:
            if connection.closed:  # psycopg2 marks a broken session closed: the next transaction opens anew
                self._connections.pop(url, None)

    def close(self) -> None:
        """Close the connections now, before a long wait (a notebook run) during which an idle session
        could be ended under them; the block's later transactions open new ones."""
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


_REUSED: ContextVar[ReusedConnections | None] = ContextVar("llf_reused_connections", default=None)


@contextmanager
def transaction(url: str) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor inside one transaction: committed when the block ends, rolled back on error.

    Each transaction opens its own connection, unless a `reused_connections` block is active (then it
    reuses that block's connection to `url`).
    """
    reused = _REUSED.get()
    if reused is not None:
        with reused.transaction(url) as cursor:
            yield cursor
        return
    connection = connect(url)
    try:
        with connection, connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


@contextmanager
def reused_connections() -> Iterator[ReusedConnections]:
    """Run the block's transactions (`transaction`) over one connection per URL, closed when it ends.

    A task's steps before and after its notebook are a dozen short transactions; a connection each
    costs more than their statements (a TCP and TLS handshake, authentication, a backend's start).
    Each transaction still commits on its own, so the log tells the truth step by step. Only this
    thread's transactions take part; a nested block shares the outer one's connections.
    """
    outer = _REUSED.get()
    if outer is not None:
        yield outer
        return
    reused = ReusedConnections()
    token = _REUSED.set(reused)
    try:
        yield reused
    finally:
        _REUSED.reset(token)
        reused.close()
