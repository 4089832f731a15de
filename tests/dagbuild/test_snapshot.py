"""The snapshot cache: new registrations appear after the refresh interval; an outage, a broken schema
or an unwritable cache hides nothing."""

from __future__ import annotations

import errno
import logging
import os
import socket

import psycopg2
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
    assert "control database unreachable or unreadable" in caplog.text
    assert "serving the snapshot taken at" in caplog.text


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


@pytest.mark.parametrize(
    "breakage",
    ["DROP SCHEMA cntl_af CASCADE", "ALTER TABLE cntl_af.cntl_cfg_prcs RENAME TO cntl_cfg_prcs_renamed"],
    ids=["schema_dropped", "table_renamed"],
)
def test_given_a_first_parse_when_the_control_schema_breaks_after_connecting_then_the_same_dags_load_with_a_warning(
    scenario, sql, dagbag, caplog, breakage
):
    scenario("ordering")
    before = dagbag()
    sql(breakage)

    with caplog.at_level(logging.WARNING, logger="llf"):
        after = dagbag()

    assert after.import_errors == {}
    assert set(after.dags) == set(before.dags)
    assert "serving the snapshot taken at" in caplog.text and "run `llf db upgrade`" in caplog.text


def test_given_a_first_parse_when_a_query_fails_mid_way_then_the_same_dags_load_with_a_warning(
    scenario, control_db_url, dagbag, monkeypatch, caplog
):
    """A lock held by a migration makes the read fail after connecting (lock_timeout), like a dropped link."""
    scenario("ordering")
    before = dagbag()
    monkeypatch.setenv("LLF_CONTROL_DB_URL", f"{control_db_url}&options=-c%20lock_timeout%3D200")
    holder = psycopg2.connect(control_db_url)
    try:
        holder.cursor().execute("LOCK TABLE cntl_af.cntl_cfg_prcs IN ACCESS EXCLUSIVE MODE")
        with caplog.at_level(logging.WARNING, logger="llf"):
            after = dagbag()
    finally:
        holder.close()

    assert after.import_errors == {}
    assert set(after.dags) == set(before.dags)
    assert "lock timeout" in caplog.text and "serving the snapshot taken at" in caplog.text


def test_given_no_snapshot_when_the_control_schema_is_missing_then_one_import_error_says_to_upgrade(
    sql, dagbag
):
    sql("DROP SCHEMA cntl_af CASCADE")

    bag = dagbag()

    assert bag.dags == {}
    (message,) = bag.import_errors.values()
    assert "No llf DAGs can be built" in message and "run `llf db upgrade`" in message


def test_given_llf_state_dir_that_cannot_be_created_when_parsed_then_the_dags_still_load_with_a_warning(
    scenario, tmp_path, dagbag, monkeypatch, caplog
):
    """A path under a regular file: mkdir fails even for root, where a read-only folder would not."""
    scenario("ordering")
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setenv("LLF_STATE_DIR", str(tmp_path / "a_file" / "state"))

    with caplog.at_level(logging.WARNING, logger="llf"):
        bag = dagbag()

    assert bag.import_errors == {}
    assert "stream__sales" in bag.dags
    assert "Cannot write the llf snapshot cache" in caplog.text


def test_given_a_full_disk_when_the_cache_is_written_then_the_dags_still_load_and_no_partial_file_is_left(
    scenario, state_dir, dagbag, monkeypatch, caplog
):
    scenario("ordering")

    def disk_full(source, destination):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", disk_full)
    with caplog.at_level(logging.WARNING, logger="llf"):
        bag = dagbag()

    assert bag.import_errors == {}
    assert "stream__sales" in bag.dags
    assert "No space left on device" in caplog.text
    assert list(state_dir.iterdir()) == []
