"""Each log row links its own attempt's notebook: both tries of a retried run, a RUNNING row, old-layout rows.

The attempts are made by the real runner (papermill, a real kernel) or written where it writes them; the pages
are read through the app behind Airflow's auth manager, as in tests/ui/test_access.py.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from fastapi.testclient import TestClient

from llf.context import RunContext
from llf.control import log as run_log
from tests.runner.retried_run import run_flaky_twice
from tests.support.notebooks import write_notebook

DAY = dt.date(2026, 5, 1)


def _notebook_links(browser: TestClient, process: str) -> list[str]:
    page = browser.get("/llf/log", params={"process": process}).raise_for_status().text
    return re.findall(r'<a href="(/llf/outputs/[^"]+)"[^>]*>notebook</a>', page)


def test_given_a_run_retried_after_a_failed_try_when_the_log_page_is_read_then_each_row_opens_its_own_notebook(
    client: TestClient, registry, notebooks_dir: Path, tmp_path: Path
):
    run_flaky_twice(registry, notebooks_dir, tmp_path)

    retry_link, first_link = _notebook_links(client, "p")  # newest first

    assert retry_link != first_link
    # the HTML shows the code of both branches: the outputs and papermill's error cell tell the tries apart
    first = client.get(first_link).raise_for_status().text
    retry = client.get(retry_link).raise_for_status().text
    assert "An Exception was encountered" in first and "<pre>the retry ran to its end" not in first
    assert "An Exception was encountered" not in retry and "<pre>the retry ran to its end" in retry


def test_given_an_attempt_whose_final_write_was_lost_when_the_log_page_is_read_then_its_running_row_opens_the_outputs(
    client: TestClient, registry, control_db_url: str, tmp_path: Path
):
    from llf.runner.outputs import output_location, store_outputs

    registry.process(registry.group(registry.stream("s"), "g"), "p")
    context = RunContext(strem_nm="s", prcs_nm="p", business_date=DAY, run_id="scheduled__1", try_number=2)
    opened = context.model_copy(update={"output_path": output_location(context)})  # as the runner opens it
    run_log.mark_running(control_db_url, opened)
    executed = write_notebook(tmp_path / "executed.ipynb", "print('stored before the row could close')")
    store_outputs(opened, executed)  # the outputs reach the lake; the row is never closed

    (link,) = _notebook_links(client, "p")

    assert link.endswith("/scheduled__1/try-2/p.html")
    assert "stored before the row could close" in client.get(link).raise_for_status().text


def _old_layout_attempt(url: str, lake: Path, stream: str, process: str) -> None:
    """A SUCCESS row as the runner wrote it before runs had a try folder: runs/<s>/<p>/<date>/<run id>/."""
    folder = lake / f"runs/{stream}/{process}/{DAY}/run-old"
    folder.mkdir(parents=True)
    (folder / f"{process}.html").write_text(f"<h1>old output of {process}</h1>")
    context = RunContext(strem_nm=stream, prcs_nm=process, business_date=DAY, run_id="run-old")
    run_log.mark_success(url, context, "done", f"{folder.as_uri()}/")


def test_given_rows_written_under_the_old_layout_when_read_then_they_open_for_the_readers_of_their_stream_only(
    viewer_of, registry, control_db_url: str, lake_dir: Path
):
    registry.process(registry.group(registry.stream("a"), "load"), "a_extract")
    registry.process(registry.group(registry.stream("b"), "feed"), "b_feed")
    _old_layout_attempt(control_db_url, lake_dir, "a", "a_extract")
    _old_layout_attempt(control_db_url, lake_dir, "b", "b_feed")
    browser = viewer_of("stream__a")

    (link,) = _notebook_links(browser, "a_extract")

    assert link == f"/llf/outputs/runs/a/a_extract/{DAY}/run-old/a_extract.html"
    assert "old output of a_extract" in browser.get(link).raise_for_status().text
    assert browser.get(f"/llf/outputs/runs/b/b_feed/{DAY}/run-old/b_feed.html").status_code == 404
