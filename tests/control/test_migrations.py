"""`llf db upgrade` is idempotent, records what it applied, and succeeds over rows its newer constraints refuse."""

from __future__ import annotations

import shutil
import subprocess
import sys

import psycopg2
import pytest

from llf.cli import main
from llf.control.migrations import upgrade
from llf.settings import control_sql_dir
from tests.support.notebooks import write_notebook
from tests.support.registry import Registry, sql_runner


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


def test_given_rows_0023_refuses_registered_before_it_when_upgraded_then_it_succeeds_and_validate_names_them(
    postgres, tmp_path, monkeypatch, capsys
):
    """Its constraints are NOT VALID: an upgrade must never fail on rows users already have."""
    url = postgres.fresh_database(prefix="old", template="template0")
    before_0023 = tmp_path / "control_sql"
    before_0023.mkdir()
    for ddl in sorted(control_sql_dir().glob("*.sql")):
        if ddl.name < "0023":
            shutil.copy(ddl, before_0023)
    upgrade(url, before_0023)
    monkeypatch.setenv("LLF_CONTROL_DB_URL", url)
    write_notebook(tmp_path / "notebooks" / "ok.ipynb", "print(greeting)")
    monkeypatch.setenv("LLF_NOTEBOOKS_DIR", str(tmp_path / "notebooks"))
    with sql_runner(url) as sql:
        registry = Registry(sql)
        stream = registry.stream("old")
        registry.process(registry.group(stream, "a.b", max_parallel=10**8), "nan_step", timeout_min=float("nan"))
        registry.process(registry.group(stream, "a_b", priority=2), "other_step")

        assert main(["db", "upgrade"]) == 0

        assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_prcs") == [(2,)]
        with pytest.raises(psycopg2.errors.CheckViolation):
            sql("UPDATE cntl_af.cntl_cfg_prcs SET timeout_min = 'NaN' WHERE prcs_nm = 'other_step'")
    capsys.readouterr()
    assert main(["validate"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any("prcs_nm=nan_step" in line and "timeout_min is nan" in line for line in lines), lines
    assert any("max_parallel is 100000000" in line for line in lines), lines
    assert any("prcs_grp_nm=a.b" in line and "prcs_grp_nm=a_b" in line for line in lines), lines
