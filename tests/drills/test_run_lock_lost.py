"""Drill: the run lock's database session is killed while the notebook runs.

pg_terminate_backend stands for every way a session dies under a live worker: a PostgreSQL restart,
an idle-session killer, a pooler, a DBA. PostgreSQL then releases the lock, so another run of the same
process and date may start; the run that lost it must notice, stop its kernel and end FAILED.
"""

from __future__ import annotations

import threading

from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from tests.drills.conftest import alive, log_rows, run_context

RUN_END_TIMEOUT = 60  # lock checked every second, kernel polled every second by nbclient, then the lake

TERMINATE_LOCK_SESSION = (
    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _run_in_thread(context) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_process(context)
        except BaseException as error:  # noqa: BLE001 - handed to the test to assert on
            errors.append(error)

    thread = threading.Thread(target=run, name="drill-run")
    thread.start()
    return thread, errors


def test_given_a_running_notebook_when_its_lock_session_is_terminated_then_the_kernel_is_stopped_and_it_fails(
    registry, group, markers, sql, reap
):
    registry.process(group, "p", notebook="sleep_once.ipynb", params=markers.params)
    runner, errors = _run_in_thread(run_context("p"))
    kernel = markers.kernel_pid()
    reap(kernel)

    terminated = sql(TERMINATE_LOCK_SESSION)
    runner.join(timeout=RUN_END_TIMEOUT)

    assert terminated == [(True,)]  # exactly one advisory lock in this database: the run's
    assert not runner.is_alive(), "the run did not end after losing its lock"
    assert not alive(kernel), "the kernel still runs after its run lost the lock"
    assert not markers.finished.exists(), "the notebook ran to its end without its lock"
    (error,) = errors
    assert isinstance(error, ProcessFailed) and str(error).startswith("run lock lost: ")
    ((_, status, message),) = log_rows(sql, "p")
    print(f"\nrow after the lock was lost: {status} | {message}")
    assert status == "FAILED"
    assert message.startswith("run lock lost: ")
    assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_log WHERE status = 'RUNNING'") == [(0,)]
