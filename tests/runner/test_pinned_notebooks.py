"""A registered notebook edited since it was pinned does not run (issue 26, exploit 2): editing a notebook in
JupyterLab is no longer running code in production without a registration right.

Real kernels: the fixture notebook writes a marker file when it runs, so "no kernel started" is seen on disk.
"""

from __future__ import annotations

import hashlib

import pytest

from llf.cli import main
from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from tests.runner.conftest import last_message, run_context, statuses
from tests.support.notebooks import write_notebook


def _short(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def test_given_a_pinned_notebook_edited_since_when_it_runs_then_failed_naming_the_file_and_llf_pin(
        registry, stream, notebooks_dir, sql):
    registry.process(stream["group"], "p")
    assert main(["pin", "ok.ipynb"]) == 0
    notebook = notebooks_dir / "ok.ipynb"
    pinned = _short(notebook)
    write_notebook(notebook, "import pathlib\npathlib.Path(marker).write_text('planted')",
                   parameters="greeting = 'hello'\nbusiness_date = ''\nmarker = 'ran.txt'")

    with pytest.raises(ProcessFailed, match="changed since it was pinned"):
        run_process(run_context("p"))

    assert statuses(sql, "p") == ["FAILED"]
    message = last_message(sql, "p")
    print(f"\nFAILED | {message}")
    assert (f"ok.ipynb changed since it was pinned (pinned {pinned}, now {_short(notebook)}): review it, "
            "then run `llf pin ok.ipynb`") in message
    assert not (notebooks_dir / "ran.txt").exists()  # refused before any kernel started


def test_given_a_pinned_notebook_unchanged_when_it_runs_then_success(registry, stream, notebooks_dir, sql):
    registry.process(stream["group"], "p")
    assert main(["pin", "ok.ipynb"]) == 0

    run_process(run_context("p"))

    assert statuses(sql, "p") == ["SUCCESS"]
    assert (notebooks_dir / "ran.txt").read_text() == "hello 2026-03-14"


def test_given_a_changed_notebook_pinned_again_when_it_runs_then_success_with_the_new_content(
        registry, stream, notebooks_dir, sql):
    registry.process(stream["group"], "p")
    assert main(["pin", "ok.ipynb"]) == 0
    write_notebook(notebooks_dir / "ok.ipynb", "import pathlib\npathlib.Path(marker).write_text('reviewed')",
                   parameters="marker = 'ran.txt'")
    assert main(["pin", "ok.ipynb"]) == 0

    run_process(run_context("p"))

    assert statuses(sql, "p") == ["SUCCESS"]
    assert (notebooks_dir / "ran.txt").read_text() == "reviewed"


def test_given_a_notebook_registered_before_pins_when_it_runs_then_it_runs_unpinned(
        registry, stream, notebooks_dir, sql, caplog):
    registry.process(stream["group"], "p")  # a plain INSERT: no pin, as every row registered before 0027

    run_process(run_context("p"))

    assert statuses(sql, "p") == ["SUCCESS"]
    assert "ok.ipynb is not pinned" in caplog.text
