"""Settings of the DAG builder (LLF_SNAPSHOT_REFRESH_SECONDS, LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS, LLF_STREAM_WAIT);
LLF_STATE_DIR is llf.settings'."""

from __future__ import annotations

import os
from typing import Literal

from llf.exceptions import ConfigurationError

DEFAULT_REFRESH_SECONDS = 30.0
# A third of Airflow's default dagbag_import_timeout (30 s): the refresh's share of a parse, leaving the rest to
# building the DAGs. Lower it with the timeout.
DEFAULT_REFRESH_BUDGET_SECONDS = 10.0
# Airflow's own default dagbag_import_timeout, used when its setting cannot be read or is 0 (no timeout).
DEFAULT_IMPORT_TIMEOUT_SECONDS = 30.0
# What a parse leaves itself after waiting for a refresh, to build the DAGs before Airflow's timeout.
PARSE_MARGIN_SECONDS = 5.0

StreamWait = Literal["auto", "poll", "defer"]
STREAM_WAITS: tuple[StreamWait, ...] = ("auto", "poll", "defer")


def refresh_seconds() -> float:
    """How old the cached snapshot may get before the control tables are read again."""
    return _seconds("LLF_SNAPSHOT_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS)


def refresh_budget_seconds() -> float:
    """How long a parse waits for a refresh before serving the last snapshot (llf.dagbuild.snapshot)."""
    return _seconds("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", DEFAULT_REFRESH_BUDGET_SECONDS)


def patience_seconds() -> float:
    """How long a parse may wait for a refresh when serving no snapshot is not an option (no cache yet, or
    a task's parse, which needs its DAG): Airflow's dagbag_import_timeout minus PARSE_MARGIN_SECONDS, so the
    wait ends before Airflow kills the parse and the DAGs can still be built."""
    return max(0.0, import_timeout_seconds() - PARSE_MARGIN_SECONDS)


def import_timeout_seconds() -> float:
    """Airflow's [core] dagbag_import_timeout, read when needed (the parse's Airflow settings); the default
    when it cannot be read or is 0 or less (no timeout: a wait still needs a bound)."""
    try:
        from airflow.configuration import conf

        value = conf.getfloat("core", "dagbag_import_timeout")
    except Exception:  # noqa: BLE001 - Airflow absent or its settings unreadable: its documented default
        return DEFAULT_IMPORT_TIMEOUT_SECONDS
    return value if value > 0 else DEFAULT_IMPORT_TIMEOUT_SECONDS


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds >= 0; unset it for {default:g}.")
    return value


def stream_wait() -> StreamWait:
    """How a stream's process task waits when it triggers its process DAG run (see llf.dagbuild.stream_dag)."""
    raw = os.environ.get("LLF_STREAM_WAIT", "").strip().lower() or "auto"
    if raw not in STREAM_WAITS:
        raise ConfigurationError(
            f"LLF_STREAM_WAIT={raw!r} is not one of {', '.join(STREAM_WAITS)}; unset it for auto."
        )
    return raw
