"""The wait for a process's run lock is bounded on its own (control.model.lock_wait_limit), and when it ends
the attempt says who holds the lock: a run stuck behind a hung one fails, retryably, instead of waiting forever."""

from __future__ import annotations

import datetime as dt
import os
import socket
import time

import pytest

from llf.control import log as run_log
from llf.control.lock import process_run_lock
from llf.exceptions import FinalFailure, ProcessFailed
from llf.runner import process
from tests.runner.conftest import BUSINESS_DATE, run_context

SHORT_WAIT = dt.timedelta(seconds=2)


def test_given_the_run_lock_held_by_a_running_attempt_when_another_run_waits_past_its_limit_then_it_fails_naming_the_holder(  # noqa: E501
    registry, stream, sql, control_db_url
):
    registry.process(stream["group"], "p")
    holder = run_context("p", run_id="scheduled__holder", triggered_by="manual")
    with process_run_lock(control_db_url, "p", BUSINESS_DATE):
        run_log.mark_running(control_db_url, holder)
        started = time.monotonic()
        with pytest.raises(ProcessFailed) as failed:
            process.run_process(control_db_url, run_context("p", run_id="manual__waiter", triggered_by="manual"),
                                lock_wait=SHORT_WAIT)
        waited = time.monotonic() - started

    message = str(failed.value)
    print(f"\nafter {waited:.1f} s: {message}")
    assert not isinstance(failed.value, FinalFailure), "a lock wait that ended is worth a retry"
    assert SHORT_WAIT.total_seconds() <= waited < 15
    assert message.startswith("waited 2.0s for the run lock of p 2026-03-14")
    assert "scheduled__holder" in message and socket.gethostname() in message and f"pid {os.getpid()}" in message
    rows = sql("SELECT run_id, status, message FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p' ORDER BY log_id")
    assert rows == [("scheduled__holder", "RUNNING", "running"), ("manual__waiter", "FAILED", message)]

