"""The control-plane UI reads as a login in llf_ui_reader (llf/control/sql/0032_ui_reader.sql), not as the owner
of cntl_af: with the real migrations on the embedded PostgreSQL, every page and JSON route the UI serves answers
the same as with the owner, and the login is refused every write and the tables no page shows (attempt tokens,
the LLM cache). Unset, the UI falls back to the owner's URL and llf's MinIO key with one warning naming the
setting."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from llf.services.lake import open_lake
from llf.services.lake.s3 import MinioLake
from llf.ui import MOUNT_PREFIX, create_app, readers
from tests.ui.two_streams import A_OUTPUT, B_OUTPUT

# Every route of the app (llf/ui/routes), with the filters that reach each query it runs.
ROUTES = (
    "/", "/?stream=a", "/?date=2026-05-01", "/log", "/log?stream=b&status=SUCCESS&process=b_feed&date=2026-05-01",
    "/log?limit=1&before=1000", "/timeline?stream=a&run_id=run-a", "/api/streams", "/api/streams?stream=b",
    "/api/log", "/api/log?stream=a", "/api/stream-runs", "/api/stream-runs?stream=b",
    "/api/timeline?stream=b&run_id=run-b", f"/outputs/{A_OUTPUT}", f"/outputs/{B_OUTPUT}",
)
# What the UI's queries read (llf.control.repository, status, queries, log): the reader's SELECT grants, exactly.
READABLE = {"cntl_cfg_strem", "cntl_cfg_prcs_grp", "cntl_cfg_prcs", "cntl_cfg_sys_file", "cntl_cfg_prcs_depn",
            "cntl_cfg_schedule", "cntl_cfg_pool", "cntl_cfg_log", "cntl_prcs_progress", "cntl_llm_usage"}


@pytest.fixture
def browser(airflow_token, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], TestClient]:
    """`browser(url)`: a viewer under Airflow's SimpleAuthManager, on an api-server mounting the app that reads
    the control tables with `url` and the test's folder lake."""
    from airflow.api_fastapi.app import _AuthManagerState
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", f"{SimpleAuthManager.__module__}.SimpleAuthManager")
    monkeypatch.setattr(_AuthManagerState, "instance", SimpleAuthManager())

    def open_browser(url: str) -> TestClient:
        server = FastAPI()
        server.mount(MOUNT_PREFIX, create_app(database_url=lambda: url, lake=open_lake))
        client = TestClient(server, base_url="http://airflow.test")
        client.cookies.set("_token", airflow_token("viewer"))
        return client

    return open_browser


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a fresh api-server process: no setting named in the log yet."""
    monkeypatch.setattr(readers, "_warned", set())


def _rows(url: str, statement: str) -> list[tuple]:
    connection = psycopg2.connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def test_given_the_ui_reader_login_when_every_route_is_read_then_each_answers_as_with_the_owner(
        two_streams, control_db_url, ui_db_url, browser):
    owner, reader = browser(control_db_url), browser(ui_db_url)

    for route in ROUTES:
        as_owner, as_reader = owner.get(MOUNT_PREFIX + route), reader.get(MOUNT_PREFIX + route)

        assert (route, as_reader.status_code) == (route, 200), as_reader.text
        assert as_reader.content == as_owner.content, route
    assert b"b secret message" in reader.get(f"{MOUNT_PREFIX}/api/log").content  # real rows, not empty pages


def test_given_the_default_app_then_it_reads_with_llf_ui_db_url_not_the_owner(two_streams, client, ui_db_url,
                                                                               monkeypatch):
    """The app's default source is LLF_UI_DB_URL (the session fixtures set it): a URL that cannot connect there
    makes the page fail, whatever the owner's URL can do."""
    assert client.get(f"{MOUNT_PREFIX}/api/streams").status_code == 200

    monkeypatch.setenv("LLF_UI_DB_URL", ui_db_url.replace("llf_ui_login", "no_such_login"))

    assert client.get(f"{MOUNT_PREFIX}/api/streams").status_code == 503


@pytest.mark.parametrize("statement", [
    "INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('planted')",
    "UPDATE cntl_af.cntl_cfg_strem SET actv_flg = false",
    "DELETE FROM cntl_af.cntl_cfg_strem",
    "UPDATE cntl_af.cntl_cfg_prcs SET actv_flg = false",
    "DELETE FROM cntl_af.cntl_cfg_prcs_depn",
    "INSERT INTO cntl_af.cntl_cfg_schedule (strem_id, cron_expr) VALUES (1, '* * * * *')",
    "UPDATE cntl_af.cntl_cfg_sys_file SET file_path = 'x.ipynb'",
    "DELETE FROM cntl_af.cntl_cfg_pool",
    "UPDATE cntl_af.cntl_cfg_log SET status = 'SUCCESS'",
    "DELETE FROM cntl_af.cntl_cfg_log",
    "INSERT INTO cntl_af.cntl_cfg_log (prcs_nm, business_date, run_id, status) "
    "VALUES ('p', current_date, 'r', 'SUCCESS')",
    "TRUNCATE cntl_af.cntl_cfg_log",
    "INSERT INTO cntl_af.cntl_prcs_progress (prcs_nm, business_date, run_id, message) "
    "VALUES ('p', current_date, 'r', 'x')",
    "DELETE FROM cntl_af.cntl_llm_usage",
    "SELECT * FROM cntl_af.cntl_attempt_token",
    "SELECT * FROM cntl_af.cntl_llm_cache",
    "CREATE TABLE cntl_af.planted (x int)",
])
def test_given_the_ui_reader_login_when_it_writes_or_reads_a_secret_then_it_is_refused(
        two_streams, control_db_url, ui_db_url, statement):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied"):
        _rows(ui_db_url, statement)

    assert _rows(control_db_url, "SELECT count(*) FROM cntl_af.cntl_cfg_strem") == [(2,)]


def test_given_the_migrations_then_the_ui_reader_may_select_exactly_what_the_ui_reads_and_write_nothing(
        control_db_url, ui_db_url):
    """A grant on a token table, or one the UI stopped needing, shows here; no table of any schema is writable."""
    readable = _rows(ui_db_url, "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = 'cntl_af' AND c.relkind IN ('r', 'v', 'm', 'p') "
                                "AND has_table_privilege(c.oid, 'SELECT')")
    writable = _rows(ui_db_url, "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                                "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'v', 'm', 'p') "
                                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                                "AND has_any_column_privilege(c.oid, 'INSERT, UPDATE') "
                                "OR (n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relkind = 'r' "
                                "AND has_table_privilege(c.oid, 'DELETE, TRUNCATE'))")

    assert {name for (name,) in readable} == READABLE
    assert writable == []
    assert _rows(ui_db_url, "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
                            "WHERE rolname = current_user") == [(False, False, False, False)]


def test_given_no_ui_db_url_when_pages_are_read_then_the_owner_url_serves_them_and_the_log_names_the_setting_once(
        two_streams, client, control_db_url, monkeypatch, caplog, fresh_warnings):
    monkeypatch.delenv("LLF_UI_DB_URL")

    with caplog.at_level(logging.WARNING, logger="llf.ui.readers"):
        answers = [client.get(f"{MOUNT_PREFIX}{route}").status_code for route in ("/", "/api/log", "/log")]

    assert answers == [200, 200, 200]
    warnings = [record.getMessage() for record in caplog.records if record.name == "llf.ui.readers"]
    assert len(warnings) == 1
    assert "LLF_UI_DB_URL is not set" in warnings[0] and "llf_ui_reader" in warnings[0]
    assert control_db_url not in warnings[0]
    assert readers.ui_db_url() == control_db_url


def test_given_the_ui_minio_keys_then_the_ui_opens_the_lake_with_them(minio_lake, monkeypatch, caplog,
                                                                       fresh_warnings):
    monkeypatch.setenv("LLF_UI_MINIO_ACCESS_KEY", "llf-ui")
    monkeypatch.setenv("LLF_UI_MINIO_SECRET_KEY", "ui-secret")

    with caplog.at_level(logging.WARNING, logger="llf.ui.readers"):
        lake = readers.ui_lake()

    assert isinstance(lake, MinioLake)
    credentials = lake.client._provider.retrieve()  # the keys every request of this client is signed with
    assert (credentials.access_key, credentials.secret_key) == ("llf-ui", "ui-secret")
    assert [key.name for key in lake.keys] == ["LLF_UI_MINIO_ACCESS_KEY", "LLF_UI_MINIO_SECRET_KEY"]
    assert caplog.records == []


def test_given_no_ui_minio_keys_then_the_ui_uses_llfs_key_and_the_log_names_the_settings_once(
        minio_lake, monkeypatch, caplog, fresh_warnings):
    monkeypatch.setenv("LLF_UI_MINIO_ACCESS_KEY", "llf-ui")  # half a pair is no pair
    monkeypatch.delenv("LLF_UI_MINIO_SECRET_KEY", raising=False)

    with caplog.at_level(logging.WARNING, logger="llf.ui.readers"):
        lakes = [readers.ui_lake(), readers.ui_lake()]

    assert [lake.client._provider.retrieve().access_key for lake in lakes] == ["testing", "testing"]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1
    assert "LLF_UI_MINIO_SECRET_KEY not set" in warnings[0] and "LLF_MINIO_ACCESS_KEY" in warnings[0]
    assert "testing-secret" not in warnings[0]


def test_given_a_folder_lake_and_no_ui_minio_keys_then_nothing_is_missing(lake_dir: Path, monkeypatch, caplog,
                                                                           fresh_warnings):
    monkeypatch.delenv("LLF_UI_MINIO_ACCESS_KEY", raising=False)

    with caplog.at_level(logging.WARNING, logger="llf.ui.readers"):
        lake = readers.ui_lake()

    assert lake.key_of((lake_dir / "runs" / "x").as_uri()) == "runs/x"
    assert caplog.records == []
