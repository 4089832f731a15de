"""Where one task's time goes: named moments, logged as phase durations at DEBUG when the task ends.

A task's overhead is spread over a dozen short steps (control-DB round trips, the lock, the kernel's
start and stop, the lake); only their durations side by side say which one to work on.
bench/process_timeline.py prints them over many runs.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

class Timeline:
    """Moments of one task, in the order they happen; `mark` is callable from any thread (the kernel's)."""

    def __init__(self, start: float | None = None) -> None:
        self._moments: list[tuple[str, float]] = [("start", time.perf_counter() if start is None else start)]
        self._guard = threading.Lock()

    def mark(self, label: str) -> None:
        """Record that the step named `label` just ended."""
        with self._guard:
            self._moments.append((label, time.perf_counter()))

    def phases(self) -> list[tuple[str, float]]:
        """(label, seconds since the previous moment) for every moment after the start."""
        with self._guard:
            moments = list(self._moments)
        return [(label, at - before) for (_, before), (label, at) in zip(moments, moments[1:], strict=False)]

    def log(self, name: str) -> None:
        """One DEBUG line: every phase and the total, in milliseconds."""
        if log.isEnabledFor(logging.DEBUG):
            phases = self.phases()
            total = sum(seconds for _, seconds in phases)
            log.debug("%s timeline (ms): %s; total %.0f", name,
                      ", ".join(f"{label} {seconds * 1000:.0f}" for label, seconds in phases), total * 1000)
