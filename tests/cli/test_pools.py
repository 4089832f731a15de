"""`llf pools sync` refusing to start: one line naming what to fix, exit 2, never a traceback or a password.
Against a real Airflow it is tests/e2e/test_pools.py; these need none (a port nobody listens on)."""

from __future__ import annotations

from llf.cli import main
from llf.local.airflow import free_port
from tests.support.cli import one_line_error

SECRET = "s3cret-pw-77c1"


def test_given_airflow_unreachable_when_pools_sync_then_exit_2_naming_the_url_and_llf_airflow_url(
    control_db_url, capsys, monkeypatch
):
    monkeypatch.setenv("LLF_AIRFLOW_URL", f"http://admin:{SECRET}@127.0.0.1:{free_port()}")

    code = main(["pools", "sync"])

    error = one_line_error(capsys)
    assert code == 2
    assert "Cannot reach Airflow at http://" in error and "set LLF_AIRFLOW_URL" in error
    assert SECRET not in error


def test_given_local_mode_down_and_no_airflow_url_when_pools_sync_dry_run_then_exit_2_pointing_at_local_up(
    control_db_url, capsys, monkeypatch
):
    monkeypatch.delenv("LLF_AIRFLOW_URL", raising=False)
    monkeypatch.setenv("LLF_LOCAL_PORT", str(free_port()))

    code = main(["pools", "sync", "--dry-run"])

    error = one_line_error(capsys)
    assert code == 2
    assert "local mode's address; LLF_AIRFLOW_URL is unset" in error and "llf local up" in error


def test_given_the_control_db_unreachable_when_pools_sync_then_exit_2_naming_it_before_asking_airflow(
    capsys, monkeypatch
):
    monkeypatch.setenv("LLF_AIRFLOW_URL", f"http://127.0.0.1:{free_port()}")

    code = main(["pools", "sync", "--db-url", f"postgresql://llf:{SECRET}@127.0.0.1:9/nowhere"])

    error = one_line_error(capsys)
    assert code == 2
    assert "Cannot reach the control database" in error and "Airflow" not in error
    assert SECRET not in error
