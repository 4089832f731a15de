"""Ctrl-C on any `llf` command: one line and exit 130, never a traceback, wherever the command was waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from llf.settings import PROJECT_ROOT
from tests.support.standins.airflow_api import airflow_api


def test_given_a_backfill_waiting_on_its_trigger_when_ctrl_c_then_one_line_and_exit_130(
    control_db_url, registry, tmp_path
):
    """The trigger request of a backfill date is outside the follow loop's own Ctrl-C handling."""
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    with airflow_api() as (url, behaviour):
        behaviour.hang_on = "/dagRuns"  # the trigger POST gets no answer
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "LLF_AIRFLOW_URL": url}
        command = subprocess.Popen(
            [sys.executable, "-m", "llf.cli", "backfill", "--stream", "s", "--from", "2026-05-01", "--to",
             "2026-05-02"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert behaviour.hanging.wait(60), command.communicate(timeout=60)
            command.send_signal(signal.SIGINT)
            out, err = command.communicate(timeout=60)
        finally:
            if command.poll() is None:
                command.kill()
                command.wait()

    assert command.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["error: interrupted; anything already triggered in Airflow keeps running "
                                        "there"]
