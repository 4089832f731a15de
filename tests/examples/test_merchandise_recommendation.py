"""The merchandise_recommendation example: catalogue into the lake, embedded, ranked per customer by the LLM."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.examples.conftest import BUSINESS_DATE, log_rows, progress

pytestmark = pytest.mark.examples

STREAM = "merchandise_recommendation"
TABLE_ROWS = ("SELECT business_date, customer_id, rank, product_id, product_name, reason, run_id "
              "FROM llf_results.recommendations ORDER BY customer_id, rank")


def test_given_the_shipped_catalogue_when_the_stream_runs_then_each_customer_gets_ranked_candidates(
    example_stream, sql, lake_dir, example_llm
):
    processes = example_stream(STREAM)

    assert processes == ["mr_ingest", "mr_embed_products", "mr_recommend"]
    assert {name: status for name, (status, _) in log_rows(sql, STREAM).items()} == dict.fromkeys(
        processes, "SUCCESS")
    assert sql("SELECT count(*) FROM llf_vectors.products")[0][0] == 16
    day = lake_dir / "streams" / STREAM / "examples" / STREAM / str(BUSINESS_DATE)  # nb.lake(): the stream's part
    rows = list(csv.DictReader(io.StringIO((day / "recommendations.csv").read_text())))
    stored_json = json.loads((day / "recommendations.json").read_text())
    assert [(r["customer_id"], r["product_id"]) for r in stored_json] == [
        (r["customer_id"], r["product_id"]) for r in rows]
    by_customer: dict[str, list[dict]] = {}
    for row in rows:
        by_customer.setdefault(row["customer_id"], []).append(row)
    assert sorted(by_customer) == ["C001", "C002", "C003", "C004", "C005"]
    owned = {("C001", "P001"), ("C001", "P004"), ("C002", "P003"), ("C002", "P006")}
    for customer, picks in by_customer.items():
        assert [row["rank"] for row in picks] == [str(rank) for rank in range(1, len(picks) + 1)]
        assert 1 <= len(picks) <= 3
        assert not {(customer, row["product_id"]) for row in picks} & owned
        assert all(row["reason"].startswith("Matches past purchases") for row in picks)
    assert "P008" in {row["product_id"] for row in by_customer["C001"]}  # hydration vest for a trail runner
    assert sql(TABLE_ROWS) == [
        (BUSINESS_DATE, r["customer_id"], int(r["rank"]), r["product_id"], r["name"], r["reason"], "run_mr_recommend")
        for r in rows]
    assert any("15 recommendations for 5 customers" in line for line in progress(sql, "mr_recommend"))
    assert len(example_llm.behaviour.calls_to("/api/chat")) == 5


def test_given_stored_recommendations_when_rerun_with_fewer_per_customer_then_the_table_holds_only_the_new_ranks(
    example_stream, sql
):
    example_stream(STREAM)
    first = sql(TABLE_ROWS)
    (first_written,) = sql("SELECT max(written_ts) FROM llf_results.recommendations")[0]

    example_stream(STREAM, params={"mr_recommend": {"recommendations_per_customer": 2}}, full_rerun=True)

    rerun = sql(TABLE_ROWS)
    assert len(first) == 15 and len(rerun) == 10
    assert {row[2] for row in rerun} == {1, 2}
    # same picks (the stand-in model is deterministic), written by the rerun: a new Airflow run, a new run id
    assert [row[:-1] for row in rerun] == [row[:-1] for row in first if row[2] <= 2]
    assert {row[-1] for row in rerun} == {"run2_mr_recommend"}
    assert sql("SELECT min(written_ts) FROM llf_results.recommendations")[0][0] > first_written  # rewritten
