"""The sentiment_analysis example: sentences classified with structured output, checked on a labelled sample."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.examples.conftest import BUSINESS_DATE, log_rows, progress

pytestmark = pytest.mark.examples

STREAM = "sentiment_analysis"


def test_given_the_shipped_documents_when_the_stream_runs_then_every_sentence_is_labelled_and_accuracy_logged(
    example_stream, sql, lake_dir, example_llm
):
    processes = example_stream(STREAM)

    assert processes == ["sa_ingest", "sa_split_sentences", "sa_classify", "sa_evaluate"]
    assert {name: status for name, (status, _) in log_rows(sql, STREAM).items()} == dict.fromkeys(
        processes, "SUCCESS")
    day = lake_dir / "streams" / STREAM / "examples" / STREAM / str(BUSINESS_DATE)  # nb.lake(): the stream's part
    sentences = list(csv.DictReader(io.StringIO((day / "sentences.csv").read_text())))
    labelled = list(csv.DictReader(io.StringIO((day / "sentiments.csv").read_text())))
    assert len(sentences) == 15 and sentences[0]["sentence_id"] == "D001-S01"
    assert [row["sentence_id"] for row in labelled] == [row["sentence_id"] for row in sentences]
    assert {row["label"] for row in labelled} == {"positive", "negative", "neutral"}
    assert all(0 <= float(row["confidence"]) <= 1 for row in labelled)
    hedged = next(row for row in labelled if row["text"] == "Prices are a bit high though.")
    assert hedged["label"] == "negative"  # first answer "mixed" was off-schema: re-asked, then valid
    assert len(example_llm.behaviour.calls_to("/api/chat")) == len(sentences) + 1
    evaluation = json.loads((day / "evaluation.json").read_text())
    assert (evaluation["scored"], evaluation["correct"], evaluation["unmatched"]) == (11, 10, [])
    assert evaluation["mismatches"] == [
        {"sentence": "The shoes fit perfectly.", "expected": "positive", "predicted": "neutral"}]
    assert "accuracy 0.91 (10/11 labelled sentences; 0 not found)" in progress(sql, "sa_evaluate")


def test_given_a_stricter_accuracy_bar_when_evaluated_then_the_check_fails_the_process(
    example_stream, sql
):
    example_stream(STREAM, params={"sa_evaluate": {"min_accuracy": 0.95}})

    status, message = log_rows(sql, STREAM)["sa_evaluate"]
    assert status == "FAILED" and "accuracy 0.91 is below min_accuracy 0.95" in message
