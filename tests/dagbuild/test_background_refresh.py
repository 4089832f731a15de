"""A refresh that outlasts its budget never costs the DAGs: the parse serves the last snapshot and the refresh
finishes in a background process, whose cache the next parse builds from."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from llf.dagbuild.snapshot import (
    CACHE_NAME,
    FAILURE_NAME,
    REFRESH_LOCK_NAME,
    REFRESH_LOG_NAME,
    refresh_lock,
    refresh_running,
)
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


@pytest.fixture
def blocker(control_db_url):
    """A session that, once it runs LOCK_TABLES, holds a control table locked: a refresh's read of the
    registrations then waits without end (no statement timeout), as on a control DB that never answers."""
    connection = psycopg2.connect(control_db_url)
    yield connection
    connection.rollback()
    connection.close()


LOCK_TABLES = "LOCK TABLE cntl_af.cntl_cfg_prcs IN ACCESS EXCLUSIVE MODE"


def hung_background_refresh(scenario, state_dir: Path, dagbag, background, blocker, monkeypatch):
    """The DAGs of a first parse (a fresh cache), then the background refresh a later parse hands on, hung on
    control tables another session holds locked; returns (those DAGs, the refresh's process)."""
    scenario("ordering")
    before = dagbag()
    blocker.cursor().execute(LOCK_TABLES)
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "0")
    dagbag()
    (child,) = background
    deadline = time.monotonic() + 60
    while not refresh_running(state_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert refresh_running(state_dir) and child.poll() is None
    return before, child


def test_given_a_background_refresh_hung_on_the_control_db_when_the_snapshot_ages_then_the_parse_warns_what_to_do(
    scenario, state_dir, dagbag, background, blocker, monkeypatch, caplog
):
    # Given: the cache, and the background refresh a parse started, hung on a control table locked elsewhere
    before, child = hung_background_refresh(scenario, state_dir, dagbag, background, blocker, monkeypatch)
    # a refresh may take a few times the budget (10 min here) before the parse calls it stuck
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "600")
    with caplog.at_level(logging.INFO, logger="llf"):
        young = dagbag()
    assert set(young.dags) == set(before.dags) and "looks stuck" not in caplog.text
    caplog.clear()

    # When: the snapshot it serves is an hour old and the refresh still runs
    an_hour_ago = time.time() - 3600
    os.utime(state_dir / CACHE_NAME, (an_hour_ago, an_hour_ago))
    with caplog.at_level(logging.WARNING, logger="llf"):
        old = dagbag()

    # Then: the DAGs still load, and a WARNING names the snapshot's age, the refresh, its log and the fix
    assert set(old.dags) == set(before.dags)
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING and "looks stuck" in r.getMessage()]
    message = warning.getMessage()
    assert "60 min old" in message and f"pid {child.pid}" in message
    assert str(state_dir / REFRESH_LOCK_NAME) in message and str(state_dir / REFRESH_LOG_NAME) in message
    assert f"kill {child.pid}" in message


def test_given_a_background_refresh_killed_when_the_snapshot_is_old_then_the_parse_refreshes_instead_of_waiting(
    scenario, state_dir, dagbag, background, blocker, monkeypatch, caplog
):
    # Given: the refresh hung, then killed (its flock on the refresh lock ends with it); the tables free again
    before, child = hung_background_refresh(scenario, state_dir, dagbag, background, blocker, monkeypatch)
    child.kill()
    child.wait()
    blocker.rollback()
    an_hour_ago = time.time() - 3600
    os.utime(state_dir / CACHE_NAME, (an_hour_ago, an_hour_ago))
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "600")

    # When: a parse finds the old snapshot
    with caplog.at_level(logging.INFO, logger="llf"):
        after = dagbag()

    # Then: no refresh counts as running (a dead holder's lock is free): the parse refreshed the cache itself
    assert set(after.dags) == set(before.dags)
    assert not refresh_running(state_dir) and "looks stuck" not in caplog.text
    assert "refresh is running elsewhere" not in caplog.text
    assert (state_dir / CACHE_NAME).stat().st_mtime > an_hour_ago + 3000
