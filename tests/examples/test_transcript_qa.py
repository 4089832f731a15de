"""The transcript_qa example: transcripts chunked and embedded, questions answered citing retrieved chunks."""

from __future__ import annotations

import json

import pytest

from tests.examples.conftest import BUSINESS_DATE, log_rows, progress

pytestmark = pytest.mark.examples

STREAM = "transcript_qa"


def test_given_the_shipped_transcripts_when_the_stream_runs_then_each_answer_cites_a_retrieved_chunk(
    example_stream, sql, lake_dir
):
    processes = example_stream(STREAM)

    assert processes == ["tq_ingest_transcripts", "tq_index_chunks", "tq_answer_questions"]
    assert {name: status for name, (status, _) in log_rows(sql, STREAM).items()} == dict.fromkeys(
        processes, "SUCCESS")
    day = lake_dir / "streams" / STREAM / "examples" / STREAM / str(BUSINESS_DATE)  # nb.lake(): the stream's part
    chunks = {c["chunk_id"]: c for c in json.loads((day / "chunks.json").read_text())}
    assert sql("SELECT count(*) FROM llf_vectors.transcript_chunks")[0][0] == len(chunks) >= 4
    answers = {a["question_id"]: a for a in json.loads((day / "answers.json").read_text())}
    assert sorted(answers) == ["Q1", "Q2", "Q3", "Q4"]
    for answer in answers.values():
        assert answer["citations"] and set(answer["citations"]) <= {r["chunk_id"] for r in answer["retrieved"]}
        assert all(answer["answer"] in chunks[c]["text"] for c in answer["citations"])
    assert "three parts brown to one part green" in answers["Q1"]["answer"]
    assert answers["Q2"]["citations"][0].startswith("bread_baking#")
    assert "ten minutes" in answers["Q2"]["answer"]
    assert "meat, dairy" in answers["Q3"]["answer"].lower()
    assert "two hundred and twenty degrees" in answers["Q4"]["answer"]
    assert any("4 answers, 4 with citations ->" in line
               for line in progress(sql, "tq_answer_questions"))


def test_given_indexed_transcripts_when_the_stream_reruns_then_no_chunk_is_duplicated(example_stream, sql):
    example_stream(STREAM)
    before = sql("SELECT count(*) FROM llf_vectors.transcript_chunks")[0][0]

    example_stream(STREAM, full_rerun=True)

    assert sql("SELECT count(*) FROM llf_vectors.transcript_chunks")[0][0] == before
