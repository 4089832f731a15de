"""`llf db upgrade` is idempotent and records what it applied."""

from __future__ import annotations

import subprocess
import sys

import psycopg2

from llf.cli import main


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llf.cli", *args], capture_output=True, text=True, check=False)


def test_given_an_empty_database_when_upgraded_twice_then_both_succeed_and_the_second_applies_nothing(postgres):
    url = postgres.fresh_database(prefix="empty", template="template0")

    first = _run_cli("db", "upgrade", "--db-url", url)
    second = _run_cli("db", "upgrade", "--db-url", url)

    assert first.returncode == 0, first.stderr
    assert "0008_cntl_cfg_log" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "nothing applied" in second.stdout
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM _yoyo_migration")
        assert cursor.fetchone()[0] >= 8


def test_given_no_database_setting_when_upgrading_then_the_error_names_the_settings(monkeypatch, capsys):
    monkeypatch.delenv("LLF_CONTROL_DB_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_CNTL_AF", raising=False)

    assert main(["db", "upgrade"]) == 2
    assert "LLF_CONTROL_DB_URL" in capsys.readouterr().err


def test_given_an_unreachable_database_when_upgrading_then_the_error_names_the_host_not_the_password(capsys):
    assert main(["db", "upgrade", "--db-url", "postgresql://user:s3cret@127.0.0.1:9/x"]) == 2
    error = capsys.readouterr().err
    assert "Cannot reach the control database" in error
    assert "s3cret" not in error
