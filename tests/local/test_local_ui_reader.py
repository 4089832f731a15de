"""Local mode gives the api-server's control-plane UI the read-only login (LLF_UI_DB_URL), as compose does: a login
in llf_ui_reader on the embedded PostgreSQL, made once per server, that reads the control tables and writes none."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from llf.local.postgres import UI_GROUP, UI_LOGIN, EmbeddedPostgres
from llf.local.stack import LocalSettings, LocalStack


def _one(url: str, statement: str) -> tuple:
    connection = psycopg2.connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchone()
    finally:
        connection.close()


def test_given_local_mode_then_the_components_get_the_ui_login_that_reads_and_writes_nothing(
        postgres: EmbeddedPostgres, control_db_url: str, tmp_path: Path):
    ui_url = postgres.ui_url(control_db_url)

    env = LocalStack(LocalSettings(home=tmp_path, port=8080))._component_env(
        control_db_url, postgres.notebook_url(control_db_url), ui_url, {})

    assert env["LLF_UI_DB_URL"] == ui_url != env["LLF_CONTROL_DB_URL"]
    assert _one(ui_url, f"SELECT current_user, pg_has_role('{UI_GROUP}', 'member'), "
                        "(SELECT count(*) FROM cntl_af.cntl_cfg_log)") == (UI_LOGIN, True, 0)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        _one(ui_url, "DELETE FROM cntl_af.cntl_cfg_strem RETURNING 1")
    assert postgres.ui_url(control_db_url) == ui_url  # made once; asked again, the same login
