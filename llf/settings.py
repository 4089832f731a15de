"""Where llf finds its settings: command-line flags, then LLF_* environment variables, then Airflow.

Secrets never come from the control tables: only from the environment, `.env`, or Airflow connections.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llf.exceptions import ConfigurationError

CONTROL_CONNECTION_ID = "cntl_af"
NOTEBOOK_DB_URL_ENV = "LLF_NOTEBOOK_DB_URL"
NOTEBOOK_CONNECTION_ID = "cntl_af_notebook"
WEAVIATE_API_KEY_ENV = "LLF_WEAVIATE_API_KEY"
VECTORS_CONNECTION_ID = "llf_vectors"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def control_db_url(explicit: str | None = None) -> str:
    """The control DB URL: `--db-url`, else LLF_CONTROL_DB_URL, else the Airflow connection `cntl_af`."""
    if explicit:
        return explicit
    from_env = os.environ.get("LLF_CONTROL_DB_URL")
    if from_env:
        return from_env
    from_airflow = _airflow_connection_uri(CONTROL_CONNECTION_ID)
    if from_airflow:
        return from_airflow
    raise ConfigurationError(
        "No control database configured: pass --db-url, set LLF_CONTROL_DB_URL, "
        f"or define the Airflow connection '{CONTROL_CONNECTION_ID}'."
    )


def notebook_db_url() -> str:
    """The URL notebook kernels get: LLF_NOTEBOOK_DB_URL, else the Airflow connection `cntl_af_notebook`.

    Never a fallback to the control DB URL: that role owns cntl_af, so any notebook could rewrite
    registrations and the run log, and a missing setting would silently hand it out. Unset, every run
    fails before its kernel starts, naming the setting; whoever really wants notebooks to run as the
    owner sets LLF_NOTEBOOK_DB_URL to the control DB URL, and each run warns in the task log.
    """
    from_env = os.environ.get(NOTEBOOK_DB_URL_ENV)
    if from_env:
        return from_env
    from_airflow = _airflow_connection_uri(NOTEBOOK_CONNECTION_ID)
    if from_airflow:
        return from_airflow
    raise ConfigurationError(
        f"No database URL for notebooks configured: set {NOTEBOOK_DB_URL_ENV} or define the Airflow connection "
        f"'{NOTEBOOK_CONNECTION_ID}', with a login in the role llf_notebook (README, Security). Notebooks "
        f"never get the control DB URL, whose owner could rewrite registrations and the run log."
    )


def weaviate_api_key() -> str | None:
    """The Weaviate API key: LLF_WEAVIATE_API_KEY, else the password of the Airflow connection `llf_vectors`
    (looked up only when LLF_VECTOR_URL is a weaviate:// URL); None when there is none."""
    from_env = os.environ.get(WEAVIATE_API_KEY_ENV)
    if from_env:
        return from_env
    if not os.environ.get("LLF_VECTOR_URL", "").startswith("weaviate://"):
        return None
    connection = _airflow_connection(VECTORS_CONNECTION_ID)
    return (connection.password or None) if connection is not None else None


def _airflow_connection(conn_id: str) -> Any:  # an airflow Connection: not imported up front
    """An Airflow connection, or None when Airflow or the connection is not there."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # llf used without Airflow installed
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - any lookup failure means "not configured here"
        return None


def _airflow_connection_uri(conn_id: str) -> str | None:
    """The URI of an Airflow connection, or None when Airflow or the connection is not there."""
    connection = _airflow_connection(conn_id)
    if connection is None:
        return None
    return connection.get_uri().replace("postgres://", "postgresql://", 1)


def notebooks_dir() -> Path:
    """The folder every registered notebook path is relative to (LLF_NOTEBOOKS_DIR, default notebooks/)."""
    return Path(os.environ.get("LLF_NOTEBOOKS_DIR", PROJECT_ROOT / "notebooks")).resolve()


def control_sql_dir() -> Path:
    """The folder of numbered DDL files applied by `llf db upgrade` (LLF_CONTROL_SQL_DIR, default the package's
    own llf/control/sql/: package data, so a wheel installed anywhere carries its schema)."""
    return Path(os.environ.get("LLF_CONTROL_SQL_DIR", Path(__file__).resolve().parent / "control" / "sql")).resolve()


DEFAULT_LOCK_CHECK_SECONDS = 5.0


def lock_check_seconds() -> float:
    """How often a running attempt checks that it still holds its run lock (LLF_LOCK_CHECK_SECONDS, default 5).

    A lock lost between two checks goes unnoticed for at most this long; each check is one small query
    on the lock's own session, which also keeps that session from looking idle.
    """
    raw = os.environ.get("LLF_LOCK_CHECK_SECONDS", "").strip()
    if not raw:
        return DEFAULT_LOCK_CHECK_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigurationError(
            f"LLF_LOCK_CHECK_SECONDS={raw!r} is not a number of seconds > 0; "
            f"unset it for {DEFAULT_LOCK_CHECK_SECONDS:g}."
        )
    return value


def state_dir() -> Path:
    """llf's own folder on this host (LLF_STATE_DIR, else $AIRFLOW_HOME/llf, else ~/.llf): the DAG builder's
    snapshot cache and the runner's unstored outputs. Here, at the bottom, so neither imports the other."""
    if explicit := os.environ.get("LLF_STATE_DIR"):
        return Path(explicit)
    if airflow_home := os.environ.get("AIRFLOW_HOME"):
        return state_dir_of(Path(airflow_home))
    return Path.home() / ".llf"


def state_dir_of(airflow_home: Path) -> Path:
    """The state dir of an Airflow whose home is `airflow_home` (and no LLF_STATE_DIR), e.g. local mode's."""
    return airflow_home / "llf"


AIRFLOW_URL_ENV = "LLF_AIRFLOW_URL"
AIRFLOW_USER_ENV = "LLF_AIRFLOW_USER"
AIRFLOW_PASSWORD_ENV = "LLF_AIRFLOW_PASSWORD"


def airflow_url() -> str | None:
    """The Airflow api-server `llf run` and `llf backfill` trigger through (LLF_AIRFLOW_URL), or None: then
    the CLI uses local mode's (http://127.0.0.1:LLF_LOCAL_PORT), which it knows without being told."""
    return os.environ.get(AIRFLOW_URL_ENV, "").strip().rstrip("/") or None


def airflow_credentials() -> tuple[str, str] | None:
    """(user, password) for Airflow's API (LLF_AIRFLOW_USER, LLF_AIRFLOW_PASSWORD), or None when neither is set:
    local mode needs no login. The password comes from the environment only, never from a flag (shell history,
    `ps`) or the control tables; one set without the other is a configuration error naming the missing one."""
    user = os.environ.get(AIRFLOW_USER_ENV, "")
    password = os.environ.get(AIRFLOW_PASSWORD_ENV, "")
    if not user and not password:
        return None
    if not user or not password:
        missing = AIRFLOW_USER_ENV if not user else AIRFLOW_PASSWORD_ENV
        raise ConfigurationError(f"{missing} is not set: set both {AIRFLOW_USER_ENV} and {AIRFLOW_PASSWORD_ENV} "
                                 "(an Airflow user allowed to trigger DAG runs), or neither for local mode.")
    return user, password
