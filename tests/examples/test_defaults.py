"""The example notebooks run as they are, with their parameters cell's defaults and no run context (as in
Jupyter): papermill injects nothing, the kernel runs in the notebook's folder."""

from __future__ import annotations

import papermill
import pytest

from llf.cli import main
from llf.settings import PROJECT_ROOT

pytestmark = pytest.mark.examples

EXAMPLES = PROJECT_ROOT / "notebooks" / "examples"
STREAMS = {  # each stream's notebooks in run order, and the registration that creates its results tables
    "quickstart": (("extract", "transform", "publish"), "01_quickstart.sql"),
    "merchandise_recommendation": (("ingest", "embed_products", "recommend"), "02_merchandise_recommendation.sql"),
    "sentiment_analysis": (("ingest", "split_sentences", "classify", "evaluate"), "03_sentiment_analysis.sql"),
    "transcript_qa": (("ingest_transcripts", "index_chunks", "answer_questions"), "04_transcript_qa.sql"),
    "llm_question": (("ask",), "05_llm_question.sql"),
}


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_given_no_run_context_when_a_streams_notebooks_run_with_their_defaults_then_each_completes(
    stream, control_db_url, example_llm, lake_dir, tmp_path, sql
):
    notebooks, registration = STREAMS[stream]
    assert main(["db", "apply", str(PROJECT_ROOT / "control_sql" / "examples" / registration)]) == 0
    folder = EXAMPLES / stream

    for name in notebooks:  # papermill raises PapermillExecutionError on the first failing cell
        papermill.execute_notebook(str(folder / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                                   kernel_name="python3", progress_bar=False, cwd=str(folder))

    if stream == "llm_question":  # its output is a results table
        assert sql("SELECT status FROM llf_results.llm_answers") == [("ANSWERED",)]
    elif stream != "quickstart":  # the other LLM examples write their outputs to the lake
        assert list(lake_dir.glob(f"examples/{stream}/*/*")), f"{stream} stored nothing in the lake"
