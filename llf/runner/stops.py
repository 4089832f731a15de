"""Airflow stopping a task while its notebook runs: what the run log says about it, and how on_kill finds the kernel.

Airflow 3.3's task runner stops a task in three ways, none of them an `Exception`:
- its execution_timeout: a SIGALRM handler raises AirflowTaskTimeout (a BaseException) in the main thread;
- mark failed, clear, a lost heartbeat: the supervisor sends SIGINT (KeyboardInterrupt), then SIGTERM after
  5 s (the operator's on_kill), then SIGKILL.
The runner runs without Airflow (an import contract), so it knows Airflow's exceptions by class name.
Every attempt running in this process registers its KernelStopper here, so that on_kill, which Airflow
calls from a signal handler and which knows nothing of the run, can stop their kernels.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from llf.runner.notebook import KernelStopper
from llf.text import format_duration, one_line

SIGINT = "stopped by Airflow: marked failed or cleared in Airflow, or its heartbeat was lost (SIGINT)"

_running: list[KernelStopper] = []
# Reentrant: on_kill runs in a signal handler, in the main thread, which may be inside `running` at that moment.
_guard = threading.RLock()


def stop_reason(stop: BaseException, running_for: float) -> str:
    """What ended the task, for the run log, from the BaseException that is ending it (`running_for`: seconds
    since the task started)."""
    names = {kind.__name__ for kind in type(stop).__mro__}
    if "AirflowTaskTimeout" in names:
        return f"timed out by Airflow after {format_duration(running_for)} (the task's execution_timeout)"
    if "AirflowTaskTerminated" in names:
        return "stopped by Airflow: the task was terminated (AirflowTaskTerminated)"
    if isinstance(stop, KeyboardInterrupt):
        return SIGINT
    if isinstance(stop, SystemExit):
        return f"stopped: the worker process is exiting (SystemExit {stop.code})"
    return f"stopped: {type(stop).__name__}: {one_line(stop)}"


@contextmanager
def running(stopper: KernelStopper) -> Iterator[None]:
    """Count the attempt whose kernel `stopper` stops among those stop_running_attempts reaches, for the block."""
    with _guard:
        _running.append(stopper)
    try:
        yield
    finally:
        with _guard:
            _running.remove(stopper)


def stop_running_attempts(reason: str) -> int:
    """Stop the kernels of the attempts running in this process (their runs then end FAILED with `reason`);
    return how many. What the generated tasks' on_kill calls; idempotent, callable from a signal handler."""
    with _guard:
        stoppers = list(_running)
    for stopper in stoppers:
        stopper.stop(reason)
    return len(stoppers)
