"""A refresh that outlasts its budget never costs the DAGs: the parse serves the last snapshot and the refresh
finishes in a background process, whose cache the next parse builds from."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from llf.dagbuild.snapshot import CACHE_NAME, FAILURE_NAME, REFRESH_LOG_NAME, refresh_lock
from llf.settings import control_db_url as resolved_control_db_url
from tests.dagbuild.test_snapshot import closed_port_url


@pytest.fixture
def background(monkeypatch) -> list[subprocess.Popen]:
    """The background refreshes the parses start, each awaited (and the list emptied) by `finish`."""
    started: list[subprocess.Popen] = []
    real = subprocess.Popen

    def recording(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", recording)
    yield started
    for child in started:
        child.wait()


def finish(started: list[subprocess.Popen]) -> list[int]:
    codes = [child.wait() for child in started]
    started.clear()
    return codes


def test_given_a_refresh_over_budget_when_parsed_then_the_last_dags_load_and_the_background_refresh_adds_the_new(
    scenario, registry, dagbag, background, monkeypatch, caplog
):
    scenario("ordering")
    before = dagbag()
    registry.process(registry.group(registry.stream("late"), "only"), "late_step")
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "0")

    with caplog.at_level(logging.WARNING, logger="llf"):
        during = dagbag()

    assert during.import_errors == {} and set(during.dags) == set(before.dags)
    assert "goes on in the background" in caplog.text and "Serving the snapshot taken at" in caplog.text
    assert finish(background) == [0]
    assert {"stream__late", "process__late_step"} <= set(dagbag().dags)


def test_given_no_cache_and_a_refresh_past_the_import_timeout_when_parsed_then_no_dag_no_import_error_until_it_ends(
    scenario, dagbag, background, monkeypatch, caplog
):
    """An import timeout of 5 s leaves no time to wait (5 s margin): the parse hands the refresh off at once."""
    scenario("ordering")
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "0")
    monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "5")

    with caplog.at_level(logging.ERROR, logger="llf"):
        first = dagbag()

    assert first.import_errors == {} and first.dags == {}
    assert "Until then no llf DAG is built" in caplog.text
    assert finish(background) == [0]
    assert "stream__sales" in dagbag().dags


def test_given_a_slow_last_refresh_when_the_cache_is_due_then_the_parse_hands_it_to_the_background_at_once(
    scenario, state_dir, dagbag, background, monkeypatch, caplog
):
    scenario("ordering")
    before = dagbag()
    cache = state_dir / CACHE_NAME
    cache.write_text(json.dumps({**json.loads(cache.read_text()), "refresh_seconds": 3600.0}))
    monkeypatch.setenv("LLF_CONTROL_DB_URL", closed_port_url())  # a refresh in the parse would warn about it

    with caplog.at_level(logging.WARNING, logger="llf"):
        during = dagbag()

    assert set(during.dags) == set(before.dags)
    assert "the last took 3600.0 s" in caplog.text and "control database unreachable" not in caplog.text
    assert finish(background) == [1]  # the background refresh met the closed port, and says so to the next parse
    assert (state_dir / FAILURE_NAME).exists()


def test_given_a_refresh_running_elsewhere_when_parsed_then_the_cache_serves_and_no_second_refresh_starts(
    scenario, state_dir, dagbag, background, monkeypatch
):
    scenario("ordering")
    before = dagbag()
    monkeypatch.setenv("LLF_CONTROL_DB_URL", closed_port_url())
    with refresh_lock(state_dir) as held:
        assert held
        during = dagbag()
        assert background == []
        command = subprocess.run([sys.executable, "-m", "llf.dagbuild.refresh"], capture_output=True, text=True)

    assert set(during.dags) == set(before.dags)
    assert command.returncode == 0 and "Another llf snapshot refresh is running" in command.stderr
    assert not (state_dir / FAILURE_NAME).exists()


def test_given_no_cache_and_a_refresh_over_budget_within_the_import_timeout_when_parsed_then_the_dags_load(
    scenario, dagbag, background, monkeypatch
):
    """No snapshot to serve: waiting (up to the import timeout less a margin) beats building no DAG, which
    lets Airflow mark every llf DAG stale."""
    scenario("ordering")
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "0")

    bag = dagbag()

    assert bag.import_errors == {} and "stream__sales" in bag.dags
    assert background == []


def test_given_no_cache_and_a_refresh_over_budget_when_a_task_parses_then_its_dag_loads_without_hand_off(
    scenario, dagbag, background, monkeypatch
):
    scenario("ordering")
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "0")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "process__report_1")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "run_notebook")

    assert list(dagbag().dags) == ["process__report_1"]
    assert background == []


def test_given_a_slow_last_refresh_and_a_cache_without_the_task_when_a_task_parses_then_it_refreshes_in_place(
    scenario, registry, state_dir, dagbag, background, monkeypatch
):
    """A task's parse never serves a snapshot that lacks its DAG because the refresh was handed off."""
    scenario("ordering")
    dagbag()
    cache = state_dir / CACHE_NAME
    cache.write_text(json.dumps({**json.loads(cache.read_text()), "refresh_seconds": 3600.0}))
    registry.process(registry.group(registry.stream("late"), "only"), "late_step")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "process__late_step")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "run_notebook")

    assert list(dagbag().dags) == ["process__late_step"]
    assert background == []


def test_given_the_control_db_only_in_the_parse_s_airflow_connection_when_handed_off_then_the_background_reads_it(
    scenario, registry, control_db_url, state_dir, dagbag, monkeypatch
):
    """In the dag-processor, cntl_af comes from Airflow's metadata DB through the parse's supervisor, which the
    background process lacks: here the connection is an AIRFLOW_CONN_CNTL_AF the child's environment loses."""
    scenario("ordering")
    dagbag()  # the cache to serve meanwhile
    registry.process(registry.group(registry.stream("late"), "only"), "late_step")
    monkeypatch.delenv("LLF_CONTROL_DB_URL")
    monkeypatch.setenv("AIRFLOW_CONN_CNTL_AF", control_db_url)
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "0")
    resolved = resolved_control_db_url()
    started: list[tuple[list[str], dict[str, str], subprocess.Popen]] = []
    real = subprocess.Popen

    def without_the_connection(args, **kwargs):
        env = {key: value for key, value in kwargs.pop("env").items() if key != "AIRFLOW_CONN_CNTL_AF"}
        started.append((args, env, real(args, env=env, **kwargs)))
        return started[-1][2]

    monkeypatch.setattr(subprocess, "Popen", without_the_connection)
    dagbag()

    ((args, env, child),) = started
    assert child.wait(timeout=120) == 0, Path(state_dir / REFRESH_LOG_NAME).read_text()
    assert env["LLF_CONTROL_DB_URL"] == resolved
    assert resolved not in " ".join(args) and resolved not in (state_dir / REFRESH_LOG_NAME).read_text()
    cached = json.loads((state_dir / CACHE_NAME).read_text())
    assert "late_step" in {process["prcs_nm"] for process in cached["snapshot"]["processes"]}
