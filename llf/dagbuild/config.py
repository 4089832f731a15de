"""Settings of the DAG builder: LLF_SNAPSHOT_REFRESH_SECONDS, LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS and LLF_STREAM_WAIT
(declared, with their defaults and rules, in llf.settings), and Airflow's dagbag_import_timeout."""

from __future__ import annotations

from typing import Literal, cast

from llf.settings import SNAPSHOT_REFRESH_BUDGET_SECONDS, SNAPSHOT_REFRESH_SECONDS, STREAM_WAIT

# Airflow's own default dagbag_import_timeout, used when its setting cannot be read or is 0 (no timeout).
DEFAULT_IMPORT_TIMEOUT_SECONDS = 30.0
# What a parse leaves itself after waiting for a refresh, to build the DAGs before Airflow's timeout.
PARSE_MARGIN_SECONDS = 5.0

StreamWait = Literal["auto", "poll", "defer"]


def refresh_seconds() -> float:
    """How old the cached snapshot may get before the control tables are read again."""
    return SNAPSHOT_REFRESH_SECONDS.value()


def refresh_budget_seconds() -> float:
    """How long a parse waits for a refresh before serving the last snapshot (llf.dagbuild.snapshot)."""
    return SNAPSHOT_REFRESH_BUDGET_SECONDS.value()


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


def stream_wait() -> StreamWait:
    """How a stream's process task waits when it triggers its process DAG run (see llf.dagbuild.stream_dag)."""
    return cast(StreamWait, STREAM_WAIT.value())
