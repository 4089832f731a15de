"""The generated tasks' connection lookup: Airflow's Task SDK, here through its environment secrets backend (the
one a worker consults first; inside a task the execution API follows it)."""

from __future__ import annotations

from llf.dagbuild.connections import airflow_connection


def test_given_a_connection_as_an_airflow_uri_when_looked_up_then_every_field_and_airflows_uri_come_back(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_API",
                       "https://api_user:s%40cret-42@api.partner.example:8443/v2?timeout=30&region=eu")

    found = airflow_connection("partner_api")

    assert found is not None
    assert (found.conn_id, found.conn_type, found.host, found.port, found.login, found.password, found.schema) == (
        "partner_api", "https", "api.partner.example", 8443, "api_user", "s@cret-42", "v2")
    assert found.extra == {"timeout": "30", "region": "eu"}
    assert found.uri.startswith("https://api_user:s%40cret-42@api.partner.example:8443/v2?")
    assert "s@cret-42" not in repr(found) and "s%40cret-42" not in repr(found)


def test_given_no_such_connection_when_looked_up_then_none(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)

    assert airflow_connection("nowhere") is None
