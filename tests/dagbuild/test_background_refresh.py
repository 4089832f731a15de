"""A refresh that outlasts its budget never costs the DAGs: the parse serves the last snapshot and the refresh
finishes in a background process, whose cache the next parse builds from."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from llf.dagbuild.snapshot import CACHE_NAME, FAILURE_NAME, refresh_lock
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


def test_given_no_cache_and_a_first_refresh_over_budget_when_parsed_then_no_dag_and_no_import_error_until_it_ends(
    scenario, dagbag, background, monkeypatch, caplog
):
    scenario("ordering")
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "0")

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
