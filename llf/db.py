"""Connections to the control database (PostgreSQL through psycopg2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions

from llf.exceptions import ControlDatabaseError


def connect(url: str, *, connect_timeout: int = 5) -> psycopg2.extensions.connection:
    """Open a connection, turning driver errors into one that names the URL's host (not its password)."""
    try:
        return psycopg2.connect(url, connect_timeout=connect_timeout, application_name="llf")
    except psycopg2.OperationalError as error:
        raise ControlDatabaseError(
            f"Cannot reach the control database at {redact(url)}: {str(error).strip()}"
        ) from error


@contextmanager
def transaction(url: str) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor inside one transaction: committed when the block ends, rolled back on error."""
    connection = connect(url)
    try:
        with connection, connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def redact(url: str) -> str:
    """The URL with any password replaced, safe for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
