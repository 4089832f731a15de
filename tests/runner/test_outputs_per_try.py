"""Every try keeps its outputs, and its log row names where they are from the moment it opens (issue 24).

Real runs: papermill with a real kernel, the run log on the embedded PostgreSQL, a folder lake.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import pytest

from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from llf.services.lake import open_lake
from llf.services.lake.runs import html_key_of, run_folder
from tests.runner.conftest import run_context
from tests.runner.retried_run import Row, attempts, run_flaky_twice, stored_notebook
from tests.support.notebooks import write_notebook

# Output metadata a kernel can publish that nbconvert's HTML template cannot render ('filenames' must be a dict).
UNRENDERABLE = (
    "from IPython.display import publish_display_data\n"
    "publish_display_data({'image/png': 'iVBORw0KGgo='}, metadata={'filenames': 5})\n"
    "print('the notebook itself ran fine')"
)


def test_given_a_run_whose_first_try_fails_when_airflow_retries_it_then_each_try_keeps_its_own_notebook(
    registry, notebooks_dir, sql, tmp_path, lake_dir
):
    run_flaky_twice(registry, notebooks_dir, tmp_path)

    failed, succeeded = attempts(sql)
    assert (failed.try_number, failed.status, succeeded.try_number, succeeded.status) == (1, "FAILED", 2, "SUCCESS")
    assert failed.output_path != succeeded.output_path
    first, retry = stored_notebook(failed.output_path), stored_notebook(succeeded.output_path)
    assert "RuntimeError" in first and "the first try breaks here" in first  # the traceback is still there
    assert "the retry ran to its end" in retry and "RuntimeError" not in retry


def test_given_a_running_attempt_when_its_row_is_read_then_it_names_the_lake_location_the_ui_can_link(
    registry, stream, notebooks_dir, sql, tmp_path, lake_dir
):
    go = tmp_path / "go"
    write_notebook(notebooks_dir / "waits.ipynb",
                   "import pathlib, time\nwhile not pathlib.Path(go).exists():\n    time.sleep(0.1)",
                   parameters="go = ''")
    registry.process(stream["group"], "p", notebook="waits.ipynb", params={"go": str(go)})
    context = run_context("p", try_number=3)
    run = threading.Thread(target=run_process, args=(context,))
    run.start()
    try:
        running = _running_output_path(sql)
    finally:
        go.write_text("go")
        run.join(120)

    assert running == (lake_dir / run_folder(context)).as_uri() + "/"
    assert run_folder(context).endswith("/try-3")
    assert html_key_of(open_lake(), running, "p") == f"{run_folder(context)}/p.html"  # the UI links it
    assert attempts(sql) == [Row(3, "SUCCESS", running)]  # the final write records the same place


def _running_output_path(sql) -> str | None:
    for _ in range(600):
        rows = sql("SELECT output_path FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p' AND status = 'RUNNING'")
        if rows:
            return rows[0][0]
        threading.Event().wait(0.1)
    raise AssertionError("no RUNNING row within 60 s")


def test_given_a_lake_that_cannot_be_opened_when_the_attempt_opens_then_no_location_is_claimed(
    tmp_path, monkeypatch, caplog
):
    from llf.runner.outputs import output_location

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake's parent folder should be")
    monkeypatch.setenv("LLF_LAKE_URL", (blocker / "lake").as_uri())

    with caplog.at_level(logging.WARNING, logger="llf.runner.outputs"):
        assert output_location(run_context("p")) is None

    assert "LLF_LAKE_URL" in caplog.text


def test_given_a_notebook_nbconvert_cannot_render_when_run_then_it_succeeds_stored_with_a_page_saying_so(
    registry, stream, notebooks_dir, sql, lake_dir, caplog, tmp_path, monkeypatch
):
    monkeypatch.setenv("LLF_STATE_DIR", str(tmp_path / "state"))  # where an old runner would have kept it
    write_notebook(notebooks_dir / "unrenderable.ipynb", UNRENDERABLE, parameters="x = 1")
    registry.process(stream["group"], "p", notebook="unrenderable.ipynb")

    with caplog.at_level(logging.WARNING, logger="llf.runner.outputs"):
        run_process(run_context("p"))

    ((status, message, output_path),) = sql("SELECT status, message, output_path FROM cntl_af.cntl_cfg_log")
    assert status == "SUCCESS", message
    assert "lake" not in message
    assert "the notebook itself ran fine" in stored_notebook(output_path)
    page = (lake_dir / html_key_of(open_lake(), output_path, "p")).read_text()
    assert "the HTML rendering failed: TypeError" in page and 'href="p.ipynb"' in page
    assert "the HTML rendering failed: TypeError" in caplog.text


def test_given_a_lake_refusing_writes_when_a_run_is_retried_then_each_try_keeps_its_own_copy_on_the_worker(
    registry, notebooks_dir, sql, tmp_path, monkeypatch
):
    monkeypatch.setenv("LLF_STATE_DIR", str(tmp_path / "state"))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake's parent folder should be")
    monkeypatch.setenv("LLF_LAKE_URL", (blocker / "lake").as_uri())

    with pytest.raises(ProcessFailed):
        run_flaky_twice(registry, notebooks_dir, tmp_path)  # the retry fails too: its outputs cannot be stored

    messages = [row[0] for row in sql("SELECT message FROM cntl_af.cntl_cfg_log ORDER BY log_id")]
    kept_at = r"kept on the worker \S+ at (\S+\.ipynb)"
    kept = [Path(match.group(1)) for message in messages if (match := re.search(kept_at, message))]
    assert len(kept) == 2, messages
    assert len(set(kept)) == 2 and all(path.is_file() for path in kept)
    assert "the first try breaks here" in kept[0].read_text()
    assert "the retry ran to its end" in kept[1].read_text()
