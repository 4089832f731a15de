"""The Gantt chart of one stream run: one bar per process attempt on a shared time axis, laid out server-side."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from llf.control.model import LogEntry

LABEL_WIDTH = 220
CHART_WIDTH = 760
STATUS_LABEL_WIDTH = 110  # room right of the last bar for its 'FAILED 12m03s' label
ROW_HEIGHT = 26
AXIS_HEIGHT = 24
TICKS = 5


@dataclass(frozen=True)
class Bar:
    entry: LogEntry
    x: float
    width: float
    y: int
    duration: dt.timedelta


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    bars: list[Bar]
    ticks: list[Tick]
    start: dt.datetime | None
    span: dt.timedelta
    width: int
    height: int
    label_width: int = LABEL_WIDTH


def build_timeline(entries: list[LogEntry], now: dt.datetime) -> Timeline:
    """Bars scaled so the first start is at the left edge and the last end (or `now` if running) at the right."""
    if not entries:
        return Timeline([], [], None, dt.timedelta(0), LABEL_WIDTH + CHART_WIDTH + STATUS_LABEL_WIDTH, AXIS_HEIGHT)
    start = min(e.start_ts for e in entries)
    end = max(e.end_ts or now for e in entries)
    span = max(end - start, dt.timedelta(seconds=1))
    scale = CHART_WIDTH / span.total_seconds()
    bars = []
    for row, entry in enumerate(entries):
        finished = entry.end_ts or now
        bars.append(Bar(
            entry=entry,
            x=LABEL_WIDTH + (entry.start_ts - start).total_seconds() * scale,
            width=max(2.0, (finished - entry.start_ts).total_seconds() * scale),
            y=AXIS_HEIGHT + row * ROW_HEIGHT,
            duration=finished - entry.start_ts,
        ))
    ticks = [Tick(LABEL_WIDTH + CHART_WIDTH * i / TICKS, f"+{_short(span * i / TICKS)}") for i in range(TICKS + 1)]
    width = LABEL_WIDTH + CHART_WIDTH + STATUS_LABEL_WIDTH
    return Timeline(bars, ticks, start, span, width, AXIS_HEIGHT + len(bars) * ROW_HEIGHT)


def _short(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"
