"""How llf writes text for people and reads the dates they type: one rule each, whoever shows or asks.

Errors are printed, logged and stored on one line (scripts grep them, a run-log row is one message), a
duration reads the same in the CLI and the UI, and a business date typed on the command line or in a URL
follows one rule, so `--date` and `?date=` accept and refuse the same texts.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

# How much of a foreign error message (a driver's, jsonschema's: they run to pages) a one-line report quotes.
DETAIL_MAX_LENGTH = 300

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def one_line(text: object, limit: int | None = None) -> str:
    """`text` with every run of whitespace (newlines included) made one space, cut to `limit` characters
    with a final '…' when longer: a problem, an error or a log line is exactly one line."""
    flat = " ".join(str(text).split())
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"


def control_character(text: str) -> str | None:
    """The first control character (NUL, newline, escape, DEL, C1...) in `text`, None when it has none.

    No key, name or filter llf reads from a person holds one: a NUL makes file system calls and psycopg2 fail
    with ValueError (a 500 where a refusal was due), a newline forges log lines, an escape rewrites a terminal.
    """
    return next((char for char in text if unicodedata.category(char) == "Cc"), None)


def parse_date(text: str) -> dt.date:
    """A calendar date written YYYY-MM-DD, else a ValueError whose message says so ("... is not a date").

    Strict on purpose: date.fromisoformat (and so FastAPI's date type) would also take 20260101 or
    2026-W01-1, which no one means for a business date, and which the other entry point would refuse.
    """
    if _ISO_DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:  # 2026-02-30: the right shape, no such day
            pass
    raise ValueError(f"{text} is not a date (YYYY-MM-DD)")


def format_duration(elapsed: dt.timedelta | float | None) -> str:
    """How long an attempt took, the same in the CLI and the UI: '0.9s', '12s', '3m05s', '2h04m'.

    Tenths below ten seconds: most notebook runs take a second or two, and a cut to whole seconds would
    print a one-second run as 0.
    """
    if elapsed is None:
        return ""
    seconds = elapsed.total_seconds() if isinstance(elapsed, dt.timedelta) else float(elapsed)
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
