"""`llf pools sync` against the session's real Airflow api-server: cntl_cfg_pool is the single source of llf's
pools; Airflow's own default_pool and pools made by hand are named, never touched."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from llf.airflow_api import AirflowClient
from llf.cli import main
from llf.control.pools import Pool
from tests.support.registry import Run

Register = Callable[[int, str], str]


@pytest.fixture
def register_pool(e2e_sql: Run, airflow_api: AirflowClient) -> Iterator[Register]:
    """`register(slots, description)` -> the name of a new row of cntl_cfg_pool; the rows and the Airflow pools of
    the test are removed afterwards (the session's control DB and Airflow are shared)."""
    names: list[str] = []

    def register(slots: int, description: str) -> str:
        name = f"pool_{secrets.token_hex(3)}"
        e2e_sql("INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots, pool_desc) VALUES (%s, %s, %s)",
                (name, slots, description))
        names.append(name)
        return name

    yield register
    e2e_sql("DELETE FROM cntl_af.cntl_cfg_pool WHERE pool_nm = ANY(%s)", (names,))
    for name in names:
        airflow_api.http.delete(f"/pools/{name}")


def _airflow_pool(api: AirflowClient, name: str) -> Pool | None:
    found = [pool for pool in api.pools() if pool["name"] == name]
    return Pool(found[0]["name"], found[0]["slots"], found[0]["description"] or "") if found else None


def _sync(capsys: pytest.CaptureFixture[str], *options: str) -> list[str]:
    code = main(["pools", "sync", *options])
    captured = capsys.readouterr()
    assert code == 0, captured
    return captured.out.splitlines()


def test_given_a_registered_pool_when_synced_then_airflow_has_it_and_a_second_sync_finds_it_unchanged(
    cli_env: None, register_pool: Register, airflow_api: AirflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    name = register_pool(2, "the LLM server's parallelism")

    first = _sync(capsys)
    second = _sync(capsys)

    assert f"created: {name} (2 slots)" in first
    assert _airflow_pool(airflow_api, name) == Pool(name, 2, "the LLM server's parallelism")
    assert f"unchanged: {name} (2 slots)" in second
    assert second[-1].startswith("Pools: 0 created, 0 updated,")
    assert not any("default_pool" in line for line in first + second)  # Airflow's own, not "not owned"


def test_given_changed_slots_and_description_when_synced_then_the_airflow_pool_is_updated(
    cli_env: None, register_pool: Register, airflow_api: AirflowClient, e2e_sql: Run,
    capsys: pytest.CaptureFixture[str]
) -> None:
    name = register_pool(2, "before")
    _sync(capsys)
    e2e_sql("UPDATE cntl_af.cntl_cfg_pool SET slots = 5, pool_desc = 'after', updated_ts = now() WHERE pool_nm = %s",
            (name,))

    lines = _sync(capsys)

    assert f"updated: {name} (slots 2 -> 5, description 'before' -> 'after')" in lines
    assert _airflow_pool(airflow_api, name) == Pool(name, 5, "after")


def test_given_a_pool_made_by_hand_in_airflow_when_synced_then_it_is_named_as_not_owned_and_left_alone(
    cli_env: None, airflow_api: AirflowClient, capsys: pytest.CaptureFixture[str]
) -> None:
    by_hand = Pool(f"hand_{secrets.token_hex(3)}", 3, "made in the UI")
    airflow_api.create_pool(by_hand)
    try:
        lines = _sync(capsys)

        assert f"not owned by llf (not in cntl_af.cntl_cfg_pool; left as it is): {by_hand.name} (3 slots)" in lines
        assert _airflow_pool(airflow_api, by_hand.name) == by_hand
    finally:
        airflow_api.http.delete(f"/pools/{by_hand.name}")


def test_given_a_dry_run_when_synced_then_it_says_what_it_would_do_and_airflow_is_unchanged(
    cli_env: None, register_pool: Register, airflow_api: AirflowClient, e2e_sql: Run,
    capsys: pytest.CaptureFixture[str]
) -> None:
    existing = register_pool(1, "")
    _sync(capsys)
    e2e_sql("UPDATE cntl_af.cntl_cfg_pool SET slots = 4 WHERE pool_nm = %s", (existing,))
    missing = register_pool(2, "")

    lines = _sync(capsys, "--dry-run")

    assert f"would create: {missing} (2 slots)" in lines
    assert f"would update: {existing} (slots 1 -> 4)" in lines
    assert lines[-1].endswith("(dry run: nothing changed in Airflow).")
    assert _airflow_pool(airflow_api, missing) is None
    assert _airflow_pool(airflow_api, existing) == Pool(existing, 1, "")
