"""The four shipped example streams, registered by their SQL files and run by a real Airflow through its
REST API, with the session's Ollama stand-in (example policy) as the LLM."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llf.airflow_api import AirflowClient, sync_pools
from llf.control.model import process_dag_id, stream_dag_id
from llf.control.pools import registered_pools
from llf.settings import PROJECT_ROOT
from tests.e2e.scenarios.streams import BUSINESS_DATE, DAG_VISIBLE_TIMEOUT, STREAM_RUN_TIMEOUT
from tests.support.registry import Run

pytestmark = pytest.mark.examples

STREAMS = ("merchandise_recommendation", "sentiment_analysis", "transcript_qa", "llm_question")


@pytest.fixture(scope="module")
def example_runs(airflow_api: AirflowClient, e2e_sql: Run, e2e_control_db_url: str,
                 e2e_notebooks_dir: Path) -> dict[str, tuple[str, str]]:
    """Copy the example notebooks, apply control_sql/examples/00 (the `llm` pool) and 02..05, sync the pools into
    Airflow as every stack's init does, trigger all four streams, wait for each: stream -> (run id, final state)."""
    shutil.copytree(PROJECT_ROOT / "notebooks" / "examples", e2e_notebooks_dir / "examples", dirs_exist_ok=True)
    for path in sorted((PROJECT_ROOT / "control_sql" / "examples").glob("0[02-5]_*.sql")):
        e2e_sql(path.read_text(encoding="utf-8"))
    sync_pools(airflow_api, registered_pools(e2e_control_db_url))
    processes = [row[0] for row in e2e_sql(
        "SELECT p.prcs_nm FROM cntl_af.cntl_cfg_prcs p JOIN cntl_af.cntl_cfg_prcs_grp USING (prcs_grp_id) "
        "JOIN cntl_af.cntl_cfg_strem s USING (strem_id) WHERE s.strem_nm = ANY(%s)", (list(STREAMS),))]
    for dag_id in [*map(stream_dag_id, STREAMS), *map(process_dag_id, processes)]:
        airflow_api.wait_for_dag(dag_id, timeout=DAG_VISIBLE_TIMEOUT)
    conf = {"business_date": BUSINESS_DATE.isoformat(), "full_rerun": False}
    run_ids = {stream: airflow_api.trigger(stream_dag_id(stream), conf) for stream in STREAMS}
    return {stream: (run_id, airflow_api.wait_for_run(stream_dag_id(stream), run_id, timeout=STREAM_RUN_TIMEOUT))
            for stream, run_id in run_ids.items()}


def _statuses(e2e_sql: Run, run_id: str) -> dict[str, str]:
    """prcs_nm -> status of the latest attempt of each process the stream run recorded."""
    return dict(e2e_sql("SELECT DISTINCT ON (prcs_nm) prcs_nm, status FROM cntl_af.cntl_cfg_log "
                        "WHERE strem_run_id = %s AND prcs_nm IS NOT NULL ORDER BY prcs_nm, log_id DESC", (run_id,)))


@pytest.mark.parametrize("stream", STREAMS)
def test_given_an_example_stream_when_triggered_through_the_api_then_every_process_succeeds(
    example_runs, e2e_sql, stream
):
    run_id, state = example_runs[stream]

    statuses = _statuses(e2e_sql, run_id)
    assert state == "success", statuses
    assert statuses and set(statuses.values()) == {"SUCCESS"}


def test_given_the_example_runs_then_their_outputs_are_in_the_lake_and_the_results_tables(
    example_runs, e2e_sql, e2e_lake_dir
):
    def day(stream: str) -> Path:  # nb.lake() keeps a stream's keys in its part of the lake, streams/<stream>/
        return e2e_lake_dir / "streams" / stream / "examples" / stream / str(BUSINESS_DATE)

    recommendations = json.loads((day("merchandise_recommendation") / "recommendations.json").read_text())
    assert {row["customer_id"] for row in recommendations} == {"C001", "C002", "C003", "C004", "C005"}
    assert e2e_sql("SELECT customer_id, rank, product_id FROM llf_results.recommendations "
                   "WHERE business_date = %s ORDER BY customer_id, rank", (BUSINESS_DATE,)) == [
        (row["customer_id"], row["rank"], row["product_id"]) for row in recommendations]
    evaluation = json.loads((day("sentiment_analysis") / "evaluation.json").read_text())
    assert evaluation["accuracy"] >= 0.8
    answers = json.loads((day("transcript_qa") / "answers.json").read_text())
    assert len(answers) == 4 and all(answer["citations"] for answer in answers)
    assert sorted(e2e_sql("SELECT prcs_nm, status FROM llf_results.llm_answers")) == [
        ("lq_ask_airflow", "ANSWERED"), ("lq_ask_rag", "ANSWERED")]
