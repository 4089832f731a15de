"""Drill: Airflow stops a task while its notebook runs, in each of the ways Airflow 3.3's task runner does it.

- execution_timeout: a SIGALRM handler raises AirflowTaskTimeout (a BaseException) in the task's main thread;
- mark failed, clear, heartbeat loss: the supervisor sends SIGINT (KeyboardInterrupt), then SIGTERM after
  5 s, which calls the operator's on_kill, then SIGKILL.
Each must end the attempt FAILED with the real reason within those 5 s, the kernel gone, and the notebook
kept as far as it ran, in the lake, where the row's output_path points.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from llf.runner.tasks import run_process
from tests.drills.conftest import alive, log_rows, run_context

REPO_ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR_ESCALATION = 5.0  # seconds between the supervisor's SIGINT, SIGTERM and SIGKILL
WORKER_END_TIMEOUT = 30

# A task process of its own, as Airflow's is: run_process in the main thread. With "on_kill", SIGTERM calls the
# process DAG's notebook task's on_kill, as Airflow's task runner does (_on_term), and the run goes on.
WORKER = (
    "import faulthandler, signal, sys\n"
    "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
    "from llf.context import RunContext\n"
    "from llf.runner.tasks import run_process\n"
    "if sys.argv[2:] == ['on_kill']:\n"
    "    from llf.dagbuild.operators import NotebookTask\n"
    "    task = NotebookTask(task_id='run_notebook', python_callable=lambda: None)\n"
    "    signal.signal(signal.SIGTERM, lambda *_: task.on_kill())\n"
    "run_process(RunContext.model_validate_json(sys.argv[1]))"
)


def _start_worker(context, *options: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, context.model_dump_json(), *options], cwd=REPO_ROOT)


def _ended(worker: subprocess.Popen) -> int:
    """The worker's exit code; when it outlives WORKER_END_TIMEOUT, its threads' stacks (faulthandler, on the
    test's stderr) before it is killed, so a hang under load says where it hangs."""
    try:
        return worker.wait(timeout=WORKER_END_TIMEOUT)
    except subprocess.TimeoutExpired:
        worker.send_signal(signal.SIGUSR1)
        time.sleep(2)
        worker.kill()
        worker.wait()
        pytest.fail(f"the task process was still there {WORKER_END_TIMEOUT} s after its stop; its stacks are "
                    "in the captured stderr above")


def _closed_within(sql, seconds: float) -> float | None:
    """Seconds until the process's only row is no longer RUNNING; None when it still is after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if sql("SELECT count(*) FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p' AND status = 'RUNNING'") == [(0,)]:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def _stored_notebook(sql) -> dict:
    """The executed notebook the row's output_path links to."""
    ((output_path,),) = sql("SELECT output_path FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'")
    assert output_path, "the stopped attempt's row links no outputs"
    (stored,) = Path(urlparse(output_path).path).glob("*.ipynb")
    return json.loads(stored.read_text())


def _ran_as_far_as_the_sleep(notebook: dict) -> bool:
    """The stored copy is the executed one (parameters injected) and holds the cell the stop interrupted."""
    tags = [cell["metadata"].get("tags", []) for cell in notebook["cells"]]
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    return ["injected-parameters"] in tags and any("time.sleep(seconds)" in source for source in sources)


def test_given_a_notebook_running_when_the_supervisor_sends_sigint_then_the_attempt_fails_stopped_by_airflow(
    registry, group, markers, sql, reap
):
    registry.process(group, "p", notebook="sleep_once.ipynb", params=markers.params)
    worker = _start_worker(run_context("p"))
    kernel = markers.kernel_pid()
    reap(kernel)

    worker.send_signal(signal.SIGINT)  # what Airflow does on mark failed, clear, or a lost heartbeat
    closed_after = _closed_within(sql, SUPERVISOR_ESCALATION)
    exit_code = _ended(worker)

    ((_, status, message),) = log_rows(sql, "p")
    print(f"\nrow {closed_after} s after SIGINT: {status} | {message}")
    assert closed_after is not None, "the row was not closed before the supervisor's SIGTERM"
    assert status == "FAILED"
    assert message.startswith("stopped by Airflow: marked failed or cleared in Airflow, or its heartbeat was lost")
    assert exit_code != 0, "the stop was swallowed: Airflow must see the task end by its own signal"
    assert not alive(kernel), "the kernel outlived its stopped task"
    assert _ran_as_far_as_the_sleep(_stored_notebook(sql))
    assert not markers.finished.exists()


def test_given_a_notebook_running_when_the_operator_on_kill_is_called_then_the_kernel_stops_and_the_attempt_fails(
    registry, group, markers, sql, reap
):
    registry.process(group, "p", notebook="sleep_once.ipynb", params=markers.params)
    worker = _start_worker(run_context("p"), "on_kill")
    kernel = markers.kernel_pid()
    reap(kernel)

    worker.send_signal(signal.SIGTERM)  # Airflow's _on_term: the operator's on_kill
    closed_after = _closed_within(sql, SUPERVISOR_ESCALATION)
    exit_code = _ended(worker)

    ((_, status, message),) = log_rows(sql, "p")
    print(f"\nrow {closed_after} s after SIGTERM: {status} | {message}")
    assert closed_after is not None, "the kernel was not stopped by on_kill"
    assert status == "FAILED" and "stopped by Airflow" in message and "on_kill" in message
    assert exit_code != 0
    assert not alive(kernel)
    assert _ran_as_far_as_the_sleep(_stored_notebook(sql))


def test_given_a_notebook_running_when_airflow_execution_timeout_fires_then_the_attempt_fails_timed_out_by_airflow(
    registry, group, markers, sql, reap
):
    from airflow.sdk.exceptions import AirflowTaskTimeout
    from airflow.sdk.execution_time.timeout import timeout

    registry.process(group, "p", notebook="sleep_once.ipynb", params=markers.params)
    alarm_at: list[float] = []

    def bring_the_alarm_forward() -> None:
        reap(markers.kernel_pid())  # once the notebook sleeps in its cell
        alarm_at.append(time.monotonic())
        signal.setitimer(signal.ITIMER_REAL, 0.01)  # Airflow's own handler, installed by timeout(), fires

    threading.Thread(target=bring_the_alarm_forward, daemon=True).start()
    with pytest.raises(AirflowTaskTimeout), timeout(3600):  # as task_runner wraps execute() in the main thread
        run_process(run_context("p"))
    returned_after = time.monotonic() - alarm_at[0]
    kernel = markers.kernel_pid()

    ((_, status, message),) = log_rows(sql, "p")
    print(f"\nrow {returned_after:.2f} s after the alarm: {status} | {message}")
    assert returned_after < SUPERVISOR_ESCALATION
    assert status == "FAILED"
    assert message.startswith("timed out by Airflow after ")
    assert not alive(kernel)
    assert _ran_as_far_as_the_sleep(_stored_notebook(sql))
