"""The example notebooks run as they are, with their parameters cell's defaults and no run context (as in
Jupyter): papermill injects nothing, the kernel runs in the notebook's folder."""

from __future__ import annotations

import json

import papermill
import pytest

from llf.settings import PROJECT_ROOT

pytestmark = pytest.mark.examples

FOLDER = PROJECT_ROOT / "notebooks" / "examples" / "transcript_qa"


def test_given_no_run_context_when_the_transcript_notebooks_run_with_defaults_then_answers_are_stored(
    control_db_url, example_llm, lake_dir, tmp_path
):
    for name in ("ingest_transcripts", "index_chunks", "answer_questions"):
        papermill.execute_notebook(str(FOLDER / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                                   kernel_name="python3", progress_bar=False, cwd=str(FOLDER))

    answers = json.loads((lake_dir / "examples" / "transcript_qa" / "2026-01-01" / "answers.json").read_text())
    assert len(answers) == 4 and all(answer["citations"] for answer in answers)
