"""`llf db upgrade`: apply the numbered DDL files of llf/control/sql/ (package data) with yoyo-migrations.

yoyo records every applied file in its own tables, so a second upgrade applies nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from yoyo import get_backend, read_migrations

from llf.db import connect
from llf.exceptions import ConfigurationError
from llf.settings import control_sql_dir

# yoyo logs every step at INFO, which Airflow's logging setup prints; `upgrade` returns what it applied.
logging.getLogger("yoyo").setLevel(logging.WARNING)


def upgrade(url: str, sql_dir: Path | None = None) -> list[str]:
    """Apply every DDL file not applied yet; return the ids of those applied now (empty when up to date)."""
    folder = sql_dir or control_sql_dir()
    migrations = read_migrations(str(folder))
    if not migrations:  # never "up to date": a wrong folder (or a package without its DDL) would hide a bare DB
        raise ConfigurationError(f"No migrations (numbered .sql files) found in {folder}: check LLF_CONTROL_SQL_DIR "
                                 "(unset, llf uses the DDL inside its package, llf/control/sql/).")
    connect(url).close()  # a clear error for an unreachable database before yoyo's own
    backend = get_backend(url)
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        backend.connection.close()  # left open, it would keep a template database busy
    return [migration.id for migration in pending]
