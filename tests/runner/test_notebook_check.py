"""A registered notebook missing on the worker that runs it: the attempt fails saying where it looked.

A task's parse no longer checks notebooks (llf.dagbuild builds its DAG from the registrations), so this
is where a worker whose notebooks folder lags finds out, and the sentence must send the reader to the
right machine and the right setting.
"""

from __future__ import annotations

import pytest

from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from tests.runner.conftest import last_message, run_context, statuses
from tests.support.notebooks import write_notebook


def test_given_a_registered_notebook_absent_on_this_worker_when_its_task_runs_then_failed_naming_path_host_and_setting(
    registry, stream, notebooks_dir, sql
):
    notebook = write_notebook(notebooks_dir / "daily" / "report.ipynb", "x = 1")
    registry.process(stream["group"], "p", notebook="daily/report.ipynb")
    notebook.unlink()  # registered and validated where the DAGs are parsed; not (yet) on this worker

    with pytest.raises(ProcessFailed, match="notebook not found"):
        run_process(run_context("p"))

    assert statuses(sql, "p") == ["FAILED"]
    message = last_message(sql, "p")
    ((hostname,),) = sql("SELECT hostname FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'")
    print(f"\nFAILED | {message}")
    assert f"notebook not found at {notebooks_dir.resolve() / 'daily' / 'report.ipynb'}" in message
    assert f"on the worker {hostname}," in message
    assert f"notebooks folder is {notebooks_dir.resolve()} (LLF_NOTEBOOKS_DIR)" in message
