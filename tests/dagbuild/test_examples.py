"""The shipped examples (control_sql/examples/*.sql) load as DAGs, with the control DB up and down."""

from __future__ import annotations

import socket

import psycopg2
import pytest

from llf.control.repository import read_snapshot
from llf.settings import PROJECT_ROOT

EXAMPLES = sorted((PROJECT_ROOT / "control_sql" / "examples").glob("*.sql"))


@pytest.mark.skipif(not EXAMPLES, reason="no example registrations shipped yet")
def test_given_the_shipped_examples_when_parsed_then_one_dag_per_active_stream_and_process(
    control_db_url, dagbag, monkeypatch
):
    monkeypatch.setenv("LLF_NOTEBOOKS_DIR", str(PROJECT_ROOT / "notebooks"))
    connection = psycopg2.connect(control_db_url)
    with connection, connection.cursor() as cursor:
        for path in EXAMPLES:
            cursor.execute(path.read_text(encoding="utf-8"))
    connection.close()
    snapshot = read_snapshot(control_db_url)
    expected = {f"stream__{s.strem_nm}" for s in snapshot.active_streams()} | {
        f"process__{p.prcs_nm}" for p in snapshot.active_processes()}

    bag = dagbag()
    assert bag.import_errors == {}
    assert set(bag.dags) == expected
    assert not [d for d in bag.dags.values() if "llf:invalid" in d.tags]

    with socket.socket() as probe:  # stop using the DB: a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("LLF_CONTROL_DB_URL", f"postgresql://llf@127.0.0.1:{probe.getsockname()[1]}/x")
    stopped = dagbag()
    assert stopped.import_errors == {}
    assert set(stopped.dags) == expected
