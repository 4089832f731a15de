"""Fault drills: a real embedded PostgreSQL, real papermill kernels, and the fault done for real.

Each drill breaks one thing the run lock or the run log relies on (the lock's database session, the
worker process, the lake) while a real notebook runs, then checks what the run log and the kernel show.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from llf.context import RunContext
from tests.support.notebooks import write_notebook

BUSINESS_DATE = dt.date(2026, 3, 14)
KERNEL_START_TIMEOUT = 90  # a cold kernel on two busy cores

# The first run writes its kernel's pid to `started`, sleeps, then writes `finished`; a later run (the
# retry, `started` already there) goes straight to `finished`. So a drill can hit the first run mid-cell
# and see whether a run got to its end.
SLEEP_ONCE = (
    "import os, pathlib, time\n"
    "first_run = not pathlib.Path(started).exists()\n"
    "pathlib.Path(started).write_text(str(os.getpid()))\n"
    "if first_run:\n"
    "    time.sleep(seconds)\n"
    "pathlib.Path(finished).write_text('the notebook ran to its end')"
)


@dataclass(frozen=True)
class Markers:
    """The files the SLEEP_ONCE notebook writes."""

    started: Path
    finished: Path

    @property
    def params(self) -> dict[str, str]:
        return {"started": str(self.started), "finished": str(self.finished)}

    def kernel_pid(self) -> int:
        """The pid of the first run's kernel, once its sleeping cell has started."""
        deadline = time.monotonic() + KERNEL_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.started.exists() and self.started.read_text():
                return int(self.started.read_text())
            time.sleep(0.2)
        raise AssertionError(f"the notebook did not start within {KERNEL_START_TIMEOUT} s")


@pytest.fixture
def group(registry, notebooks_dir: Path, lake_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Stream `s`, group `g`, the SLEEP_ONCE notebook; the lock checked every second; a private state dir."""
    monkeypatch.setenv("LLF_LOCK_CHECK_SECONDS", "1")
    monkeypatch.setenv("LLF_STATE_DIR", str(tmp_path / "state"))
    write_notebook(notebooks_dir / "sleep_once.ipynb", SLEEP_ONCE,
                   parameters="started = ''\nfinished = ''\nseconds = 120")
    return registry.group(registry.stream("s"), "g")


@pytest.fixture
def markers(tmp_path: Path) -> Markers:
    return Markers(tmp_path / "started.txt", tmp_path / "finished.txt")


def run_context(prcs_nm: str, **overrides) -> RunContext:
    values = {"strem_nm": "s", "prcs_nm": prcs_nm, "business_date": BUSINESS_DATE, "run_id": f"run_{prcs_nm}",
              "dag_id": f"process__{prcs_nm}", "task_id": "run_notebook", "triggered_by": "manual"}
    return RunContext(**(values | overrides))


def log_rows(sql, prcs_nm: str) -> list[tuple]:
    """(try_number, status, message) of every attempt of the process, oldest first."""
    return sql("SELECT try_number, status, message FROM cntl_af.cntl_cfg_log WHERE prcs_nm = %s ORDER BY log_id",
               (prcs_nm,))


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting to be reaped does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_if_alive(pid: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).kill()


@pytest.fixture
def reap() -> Iterator[Callable[[int], None]]:
    """`reap(pid)`: kill that process at teardown if it still runs; no drill leaves a kernel behind."""
    pids: list[int] = []
    yield pids.append
    for pid in pids:
        kill_if_alive(pid)
