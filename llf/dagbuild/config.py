"""Settings of the DAG builder (LLF_SNAPSHOT_REFRESH_SECONDS, LLF_STREAM_WAIT); LLF_STATE_DIR is llf.settings'."""

from __future__ import annotations

import os
from typing import Literal

from llf.exceptions import ConfigurationError

DEFAULT_REFRESH_SECONDS = 30.0

StreamWait = Literal["auto", "poll", "defer"]
STREAM_WAITS: tuple[StreamWait, ...] = ("auto", "poll", "defer")


def refresh_seconds() -> float:
    """How old the cached snapshot may get before the control tables are read again."""
    raw = os.environ.get("LLF_SNAPSHOT_REFRESH_SECONDS", "")
    if not raw.strip():
        return DEFAULT_REFRESH_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigurationError(
            f"LLF_SNAPSHOT_REFRESH_SECONDS={raw!r} is not a number of seconds >= 0; unset it for 30."
        )
    return value


def stream_wait() -> StreamWait:
    """How a stream's process task waits when it triggers its process DAG run (see llf.dagbuild.stream_dag)."""
    raw = os.environ.get("LLF_STREAM_WAIT", "").strip().lower() or "auto"
    if raw not in STREAM_WAITS:
        raise ConfigurationError(
            f"LLF_STREAM_WAIT={raw!r} is not one of {', '.join(STREAM_WAITS)}; unset it for auto."
        )
    return raw  # type: ignore[return-value]
