"""Drill: the lake cannot be written when the notebook has run.

The executed notebook is the only record of what the run did; losing it with the scratch folder would
leave a FAILED row and nothing to read. It is kept on the worker and the row says where.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from tests.drills.conftest import log_rows, run_context
from tests.support.notebooks import write_notebook


def test_given_an_unwritable_lake_when_a_notebook_has_run_then_it_fails_naming_the_lake_the_host_and_the_kept_path(
    registry, group, notebooks_dir, sql, tmp_path, monkeypatch
):
    write_notebook(notebooks_dir / "answer.ipynb", "answer = 6 * 7\nprint(answer)", parameters="x = 1")
    registry.process(group, "p", notebook="answer.ipynb")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake's parent folder should be: no one can write under it, not even root")
    monkeypatch.setenv("LLF_LAKE_URL", (blocker / "lake").as_uri())

    with pytest.raises(ProcessFailed, match="LLF_LAKE_URL"):
        run_process(run_context("p"))

    ((_, status, message),) = log_rows(sql, "p")
    ((hostname,),) = sql("SELECT hostname FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'")
    print(f"\n{status} | {hostname} | {message}")
    assert status == "FAILED"
    assert "could not store the output notebook in the lake" in message
    kept = re.search(r"kept on the worker (\S+) at (/\S+\.ipynb)", message)  # a throwaway worker takes it along
    assert kept, message
    assert kept.group(1) == hostname  # the host the row names: where to go and fetch it
    kept_path = Path(kept.group(2))
    assert kept_path.is_relative_to(tmp_path / "state")
    executed = nbformat.read(kept_path, as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "42\n"  # the notebook as it ran, outputs included
    assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_log WHERE status = 'RUNNING'") == [(0,)]
