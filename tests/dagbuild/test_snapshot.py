"""The snapshot cache: new registrations appear after the refresh interval; an outage hides nothing."""

from __future__ import annotations

import logging
import socket

import pytest


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://llf@127.0.0.1:{port}/nowhere"


def test_given_a_new_registration_when_the_refresh_interval_passed_then_its_dags_appear(
    scenario, registry, dagbag, monkeypatch
):
    scenario("stop_policy")
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_SECONDS", "3600")
    assert "stream__late" not in dagbag().dags
    stream = registry.stream("late")
    registry.process(registry.group(stream, "only"), "late_step")
    assert "stream__late" not in dagbag().dags, "read again before the interval passed"
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_SECONDS", "0")
    assert {"stream__late", "process__late_step"} <= set(dagbag().dags)


def test_given_a_first_parse_when_the_control_db_goes_away_then_the_same_dags_load_with_a_warning(
    scenario, dagbag, monkeypatch, caplog
):
    scenario("ordering")
    before = dagbag()
    monkeypatch.setenv("LLF_CONTROL_DB_URL", closed_port_url())
    with caplog.at_level(logging.WARNING, logger="llf"):
        after = dagbag()
    assert after.import_errors == {}
    assert set(after.dags) == set(before.dags)
    assert "control database unreachable" in caplog.text and "serving the snapshot taken at" in caplog.text


def test_given_no_snapshot_when_the_control_db_is_unreachable_then_one_clear_import_error(
    dagbag, monkeypatch
):
    monkeypatch.setenv("LLF_CONTROL_DB_URL", closed_port_url())
    bag = dagbag()
    assert bag.dags == {}
    (message,) = bag.import_errors.values()
    assert "No llf DAGs can be built" in message and "LLF_CONTROL_DB_URL" in message


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_given_a_bad_refresh_setting_when_parsed_then_the_error_names_the_setting(
    control_db_url, dagbag, monkeypatch, value
):
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_SECONDS", value)
    (message,) = dagbag().import_errors.values()
    assert "LLF_SNAPSHOT_REFRESH_SECONDS" in message


def test_given_a_stale_cache_holding_the_task_when_a_task_parses_then_it_builds_from_it_without_the_db(
    scenario, state_dir, dagbag, monkeypatch, caplog
):
    scenario("ordering")
    assert "process__report_1" in dagbag().dags  # writes the cache
    monkeypatch.setenv("LLF_CONTROL_DB_URL", closed_port_url())  # any refresh attempt would warn
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "process__report_1")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "run_notebook")
    with caplog.at_level(logging.WARNING, logger="llf"):
        bag = dagbag()
    assert list(bag.dags) == ["process__report_1"] and bag.import_errors == {}
    assert "control database unreachable" not in caplog.text
    assert not (state_dir / "snapshot.refresh-failed").exists()


def test_given_a_stale_cache_without_the_task_when_a_task_parses_then_it_refreshes_and_finds_it(
    scenario, registry, dagbag, monkeypatch
):
    scenario("ordering")
    dagbag()  # writes the cache, without the process registered next
    stream = registry.stream("late")
    registry.process(registry.group(stream, "only"), "late_step")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "process__late_step")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "run_notebook")
    assert list(dagbag().dags) == ["process__late_step"]
