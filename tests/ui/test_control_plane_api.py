"""The control-plane API and pages: the registrations as a tree, statuses, filters, paging and timelines."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from llf.context import RunContext, StreamRunKey
from llf.control import log as run_log
from llf.control import stream_runs

DAY = dt.date(2026, 5, 1)


def _context(prcs_nm: str, *, stream: str = "sales", day: dt.date = DAY, run: str = "run-1", **extra) -> RunContext:
    return RunContext(strem_nm=stream, prcs_nm=prcs_nm, business_date=day, run_id=f"{run}-{prcs_nm}",
                      strem_run_id=run, dag_id=f"process__{prcs_nm}", **extra)


def _register_sales(registry) -> dict[str, int]:
    """Stream `sales`: group `load` (extract, then clean) before group `score` (score, depends on clean)."""
    stream = registry.stream("sales", description="daily sales", fail_policy="STOP")
    registry.schedule(stream, "0 6 * * 1-5", "Europe/Paris")
    load = registry.group(stream, "load", priority=1, max_parallel=2)
    score = registry.group(stream, "score", priority=2)
    ids = {
        "extract": registry.process(load, "extract", priority=1, notebook="extract.ipynb"),
        "clean": registry.process(load, "clean", priority=2),
        "score": registry.process(score, "score", priority=1),
        "retired": registry.process(score, "retired", priority=2, active=False),
    }
    registry.depend(ids["clean"], ids["extract"])
    registry.depend(ids["score"], ids["clean"])
    return ids


def test_given_registrations_when_streams_are_listed_then_groups_and_processes_come_in_priority_order(
    client: TestClient, registry
):
    _register_sales(registry)
    registry.process(registry.group(registry.stream("other", active=False), "g"), "lonely")

    streams = client.get("/llf/api/streams").raise_for_status().json()

    assert [s["strem_nm"] for s in streams] == ["other", "sales"]
    sales = streams[1]
    assert sales["schedule"] == {"cron_expr": "0 6 * * 1-5", "timezone": "Europe/Paris"}
    assert (sales["fail_policy"], sales["active"], streams[0]["active"]) == ("STOP", True, False)
    assert [(g["prcs_grp_nm"], g["priority"], g["max_parallel"]) for g in sales["groups"]] == [
        ("load", 1, 2), ("score", 2, 1)]
    processes = {p["prcs_nm"]: p for g in sales["groups"] for p in g["processes"]}
    assert list(processes) == ["extract", "clean", "score", "retired"]
    assert processes["score"]["depends_on"] == ["clean"]
    assert processes["extract"]["notebook"] == "extract.ipynb"
    assert processes["retired"]["active"] is False and processes["retired"]["latest"] is None
    assert processes["extract"]["dag_href"] == "/dags/process__extract"


def test_given_attempts_when_streams_are_listed_then_each_process_shows_its_latest_status_tokens_and_links(
    client: TestClient, registry, control_db_url, sql, lake_dir
):
    _register_sales(registry)
    folder = lake_dir / "runs/sales/extract/2026-05-01/run-1-extract"
    run_log.mark_failed(control_db_url, _context("extract"), "first try failed")
    log_id = run_log.mark_running(control_db_url, _context("extract", try_number=2))
    run_log.mark_success(control_db_url, _context("extract", log_id=log_id), "42 rows", f"{folder.as_uri()}/")
    sql("INSERT INTO cntl_af.cntl_llm_usage (log_id, prcs_nm, business_date, run_id, provider_nm, model_nm, "
        "operation_nm, prompt_tokens, completion_tokens) "
        "VALUES (%s, 'extract', %s, 'r', 'ollama', 'm', 'chat', 30, 12)",
        (log_id, DAY))
    run_log.mark_blocked(control_db_url, _context("score"), "dependency clean FAILED")

    streams = client.get("/llf/api/streams", params={"stream": "sales"}).raise_for_status().json()

    processes = {p["prcs_nm"]: p for g in streams[0]["groups"] for p in g["processes"]}
    extract = processes["extract"]["latest"]
    assert (extract["status"], extract["message"], extract["tokens"]) == ("SUCCESS", "42 rows", 42)
    assert extract["duration_seconds"] >= 0
    assert extract["output_href"] == "/llf/outputs/runs/sales/extract/2026-05-01/run-1-extract/extract.html"
    assert extract["dag_run_href"] == "/dags/process__extract/runs/run-1-extract"
    assert processes["score"]["latest"]["status"] == "BLOCKED"
    assert processes["clean"]["latest"]["status"] is None


def test_given_a_process_run_by_its_stream_task_when_listed_then_its_run_link_opens_the_stream_run(
    client: TestClient, registry, control_db_url
):
    _register_sales(registry)
    in_stream = RunContext(strem_nm="sales", prcs_nm="clean", business_date=DAY, run_id="scheduled__1",
                           strem_run_id="scheduled__1", dag_id="stream__sales", task_id="load.clean")
    run_log.mark_success(control_db_url, in_stream, "ok")

    streams = client.get("/llf/api/streams", params={"stream": "sales"}).raise_for_status().json()

    clean = next(p for g in streams[0]["groups"] for p in g["processes"] if p["prcs_nm"] == "clean")
    assert clean["latest"]["dag_run_href"] == "/dags/stream__sales/runs/scheduled__1"


def test_given_two_business_dates_when_filtered_by_date_then_statuses_are_those_of_that_date(
    client: TestClient, registry, control_db_url
):
    _register_sales(registry)
    run_log.mark_success(control_db_url, _context("extract"), "day one")
    run_log.mark_failed(control_db_url, _context("extract", day=DAY + dt.timedelta(days=1)), "day two")

    def status_on(day: str | None) -> str:
        params = {"stream": "sales", **({"date": day} if day else {})}
        streams = client.get("/llf/api/streams", params=params).raise_for_status().json()
        return streams[0]["groups"][0]["processes"][0]["latest"]["message"]

    assert status_on(None) == "day two"
    assert status_on(str(DAY)) == "day one"
    assert client.get("/llf/api/streams", params={"date": "yesterday"}).status_code == 422


def test_given_a_date_the_cli_refuses_when_a_page_or_the_api_is_asked_then_422_with_the_cli_sentence(
    client: TestClient, registry
):
    """One date rule (llf.text.parse_date): `llf status --date 20260101` is a usage error, so is ?date=20260101."""
    _register_sales(registry)

    for path in ("/llf/api/streams", "/llf/api/log", "/llf/api/stream-runs", "/llf/", "/llf/log"):
        refused = client.get(path, params={"date": "20260101"})

        assert refused.status_code == 422, path
        assert "20260101 is not a date (YYYY-MM-DD)" in refused.text, path
    assert client.get("/llf/api/log", params={"date": "2026-01-01"}).status_code == 200


def test_given_many_log_rows_when_paged_then_pages_are_disjoint_newest_first_and_end(
    client: TestClient, registry, control_db_url
):
    _register_sales(registry)
    for index in range(7):
        run_log.mark_success(control_db_url, _context("extract", run=f"run-{index}"), f"attempt {index}")
    run_log.mark_failed(control_db_url, _context("extract", stream="elsewhere"), "other stream")

    seen, before = [], None
    while True:
        params = {"stream": "sales", "limit": 3, **({"before": before} if before else {})}
        page = client.get("/llf/api/log", params=params).raise_for_status().json()
        seen.extend(row["message"] for row in page["rows"])
        before = page["next_before"]
        if before is None:
            break

    assert seen == [f"attempt {index}" for index in reversed(range(7))]
    failed = client.get("/llf/api/log", params={"status": "FAILED"}).raise_for_status().json()
    assert [row["strem_nm"] for row in failed["rows"]] == ["elsewhere"]
    assert client.get("/llf/api/log", params={"limit": 100000}).status_code == 422


def test_given_a_log_page_when_rendered_then_the_older_link_carries_the_filters_and_cursor(
    client: TestClient, registry, control_db_url
):
    _register_sales(registry)
    for index in range(3):
        run_log.mark_success(control_db_url, _context("extract", run=f"run-{index}"), f"attempt {index}")

    html = client.get("/llf/log", params={"stream": "sales", "limit": 2}).raise_for_status().text

    assert "attempt 2" in html and "attempt 1" in html and "attempt 0" not in html
    assert "/llf/log?stream=sales" in html and "before=" in html


def test_given_a_dependency_run_asked_by_another_stream_when_the_log_is_rendered_then_the_row_names_the_asker(
    client: TestClient, registry, control_db_url
):
    _register_sales(registry)
    run_log.mark_success(control_db_url, _context("extract", triggered_by="dependency", rqst_strem_nm="marketing",
                                                  rqst_strem_run_id="scheduled__x"), "notebook ran to completion")

    html = client.get("/llf/log", params={"stream": "sales"}).raise_for_status().text
    rows = client.get("/llf/api/log", params={"stream": "sales"}).raise_for_status().json()["rows"]

    assert "asked by marketing" in html
    assert (rows[0]["rqst_strem_nm"], rows[0]["rqst_strem_run_id"]) == ("marketing", "scheduled__x")


def test_given_a_stream_run_when_its_timeline_is_requested_then_every_attempt_is_a_bar_in_start_order(
    client: TestClient, registry, control_db_url
):
    _register_sales(registry)
    stream_runs.mark_stream_running(control_db_url, StreamRunKey("sales", "run-1", DAY))
    for name in ("extract", "clean"):
        run_log.mark_success(control_db_url, _context(name), f"{name} done")
    run_log.mark_failed(control_db_url, _context("score"), "ValueError: boom")
    stream_runs.mark_stream_finished(control_db_url, StreamRunKey("sales", "run-1", DAY), "FAILED", "1 process failed")

    runs = client.get("/llf/api/stream-runs", params={"stream": "sales"}).raise_for_status().json()
    data = client.get("/llf/api/timeline", params={"stream": "sales", "run_id": "run-1"}).raise_for_status().json()
    html = client.get("/llf/timeline", params={"stream": "sales", "run_id": "run-1"}).raise_for_status().text

    assert [(r["run_id"], r["status"]) for r in runs] == [("run-1", "FAILED")]
    assert [(a["prcs_nm"], a["status"]) for a in data["attempts"]] == [
        ("extract", "SUCCESS"), ("clean", "SUCCESS"), ("score", "FAILED")]
    assert html.count('<g class="bar"') == 3
    assert "ValueError: boom" in html and "/dags/stream__sales/runs/run-1" in html
    assert client.get("/llf/timeline", params={"stream": "sales", "run_id": "nope"}).status_code == 404


def test_given_registrations_when_the_overview_page_is_rendered_then_it_shows_tree_graph_and_no_external_urls(
    client: TestClient, registry, control_db_url
):
    _register_sales(registry)
    run_log.mark_failed(control_db_url, _context("clean"), "KeyError: 'sku'")

    html = client.get("/llf/", params={"stream": "sales", "date": ""}).raise_for_status().text

    for name in ("extract", "clean", "score", "retired", "load", "score"):
        assert f">{name}<" in html or f"group {name}" in html
    assert html.count('<g class="node"') == 4
    assert html.count("marker-end=") == 2  # extract -> clean -> score
    assert "KeyError: &#39;sku&#39;" in html
    assert "0 6 * * 1-5 (Europe/Paris)" in html
    assert "<script" not in html and "https://" not in html and "//cdn" not in html


def _route_sales(sql) -> None:
    """Group score on the llm queue; score takes 2 slots of pool llm, clean overrides its group's queue."""
    sql("INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots) VALUES ('llm', 4)")
    sql("UPDATE cntl_af.cntl_cfg_prcs_grp SET queue_nm = 'llm' WHERE prcs_grp_nm = 'score'")
    sql("UPDATE cntl_af.cntl_cfg_prcs SET pool_nm = 'llm', pool_slots = 2 WHERE prcs_nm = 'score'")
    sql("UPDATE cntl_af.cntl_cfg_prcs SET queue_nm = 'io' WHERE prcs_nm = 'clean'")


def test_given_routed_processes_when_streams_are_listed_then_each_process_shows_its_queue_and_pool(
    client: TestClient, registry, sql
):
    _register_sales(registry)
    _route_sales(sql)

    streams = client.get("/llf/api/streams", params={"stream": "sales"}).raise_for_status().json()

    assert [(g["prcs_grp_nm"], g["queue_nm"]) for g in streams[0]["groups"]] == [("load", "default"), ("score", "llm")]
    processes = {p["prcs_nm"]: (p["queue_nm"], p["pool_nm"], p["pool_slots"])
                 for g in streams[0]["groups"] for p in g["processes"]}
    assert processes == {"extract": ("default", None, 1), "clean": ("io", None, 1), "score": ("llm", "llm", 2),
                         "retired": ("llm", None, 1)}


def test_given_routed_processes_when_the_overview_page_is_rendered_then_each_process_row_shows_queue_and_pool(
    client: TestClient, registry, sql
):
    _register_sales(registry)
    _route_sales(sql)

    html = client.get("/llf/", params={"stream": "sales"}).raise_for_status().text

    # each process's table row (the last data-process of the page: the graph's node comes first)
    rows = {name: html.rsplit(f'data-process="{name}"', 1)[1].split("</tr>", 1)[0] for name in ("extract", "score")}
    assert "queue default · pool default_pool" in rows["extract"]
    assert "queue llm · pool llm (2 slots)" in rows["score"]
    assert "group score · max parallel 1 · queue llm" in html


@pytest.mark.parametrize("path", ["/llf/api/log?stream=%00", "/llf/api/log?process=a%00", "/llf/api/log?status=%00",
                                  "/llf/api/streams?stream=s%00", "/llf/api/stream-runs?date=%00", "/llf/?stream=%00",
                                  "/llf/log?process=a%0Ab", "/llf/api/log?anything=%1B"])
def test_given_a_filter_with_a_nul_or_other_control_character_when_requested_then_a_400_names_it(
    client: TestClient, registry, path: str
):
    _register_sales(registry)

    response = client.get(path)

    assert response.status_code == 400
    assert "control character" in response.text
