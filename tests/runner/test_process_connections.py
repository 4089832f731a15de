"""A notebook gets the Airflow connections its process registered (cntl_cfg_prcs.conn_ids), those alone, through
`nb.connection(id)`: real runs (runner, papermill, a real kernel, the session's PostgreSQL) with the connections
defined the way Airflow reads them in this process (AIRFLOW_CONN_<ID>, Airflow's environment secrets backend) and
looked up by the generated tasks' own lookup (Airflow's Task SDK, llf.dagbuild.connections)."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from llf.dagbuild.connections import airflow_connection
from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from tests.runner.conftest import last_message, run_context, statuses
from tests.support.notebooks import write_notebook

PASSWORD = "crm-pass-" + "9c41e7"  # built, so no file holds it whole but this one
OTHER_PASSWORD = "other-pass-" + "5b20d3"

READS = """
import hashlib, os, pathlib
from llf import notebook as nb
crm = nb.connection('x')
lines = [crm.conn_type, crm.host, str(crm.port), crm.login, crm.schema, str(crm.extra),
         hashlib.sha256(crm.password.encode()).hexdigest(), str(crm.uri.startswith('postgres://crm_user:'))]
try:
    nb.connection('other')
except Exception as error:
    lines.append(f'{type(error).__name__}: {error}')
lines.append(repr(crm))
lines.append(','.join(sorted(name for name in os.environ if 'CONN' in name or name.startswith('AIRFLOW'))))
pathlib.Path(marker).write_text('\\n'.join(lines))
print(crm.host)
"""


def _airflow_connection(password: str, host: str = "crm.example") -> str:
    """AIRFLOW_CONN_<ID> in Airflow's JSON form."""
    return json.dumps({"conn_type": "postgres", "host": host, "port": 5433, "login": "crm_user",
                       "password": password, "schema": "sales", "extra": {"sslmode": "require"}})


@pytest.fixture
def connections(monkeypatch):
    """Two connections in Airflow: x, which the process registers, and other, which it does not."""
    monkeypatch.setenv("AIRFLOW_CONN_X", _airflow_connection(PASSWORD))
    monkeypatch.setenv("AIRFLOW_CONN_OTHER", _airflow_connection(OTHER_PASSWORD, "other.example"))


def _register(registry, stream, sql, notebook: str, conn_ids: list[str], marker) -> None:
    registry.process(stream["group"], "p", notebook=notebook, params={"marker": str(marker)})
    sql("UPDATE cntl_af.cntl_cfg_prcs SET conn_ids = %s::text[] WHERE prcs_nm = 'p'", (conn_ids,))


def _everything_stored(sql, lake_dir) -> str:
    rows = sql("SELECT * FROM cntl_af.cntl_cfg_log") + sql("SELECT * FROM cntl_af.cntl_prcs_progress")
    outputs = [path.read_text(encoding="utf-8", errors="replace") for path in lake_dir.rglob("*") if path.is_file()]
    return str(rows) + "\n".join(outputs)


def test_given_a_registered_connection_when_run_then_the_kernel_gets_it_and_nothing_else_and_no_password_is_kept(
    registry, stream, notebooks_dir, sql, lake_dir, tmp_path, connections, caplog
):
    marker = tmp_path / "seen.txt"
    write_notebook(notebooks_dir / "reads.ipynb", READS, parameters="marker = ''")
    _register(registry, stream, sql, "reads.ipynb", ["x"], marker)

    with caplog.at_level(logging.DEBUG):
        run_process(run_context("p"), connection_lookup=airflow_connection)

    assert statuses(sql, "p") == ["SUCCESS"], last_message(sql, "p")
    seen = marker.read_text().splitlines()
    assert seen[:8] == ["postgres", "crm.example", "5433", "crm_user", "sales", "{'sslmode': 'require'}",
                        hashlib.sha256(PASSWORD.encode()).hexdigest(), "True"]
    refused = seen[8]
    assert refused.startswith("ConfigurationError: connection 'other' is not registered for process p")
    assert "(it registered: x)" in refused and "cntl_af.cntl_cfg_prcs.conn_ids" in refused
    assert seen[9].startswith("Connection(conn_id='x', conn_type='postgres', host='crm.example'")
    assert seen[10] == "LLF_CONNECTIONS"  # no AIRFLOW_CONN_*, no other connection's variable
    stored = _everything_stored(sql, lake_dir)
    assert "crm.example" in stored  # the output notebook is there, with what the notebook printed
    for secret in (PASSWORD, OTHER_PASSWORD, "other.example"):
        assert secret not in stored and secret not in caplog.text


def test_given_a_process_naming_no_connection_when_run_then_the_kernel_gets_none(
    registry, stream, notebooks_dir, sql, tmp_path, connections
):
    write_notebook(notebooks_dir / "none.ipynb",
                   "import os\nfrom llf import notebook as nb\nassert 'LLF_CONNECTIONS' not in os.environ\n"
                   "nb.connection('x')")
    registry.process(stream["group"], "p", notebook="none.ipynb")

    with pytest.raises(ProcessFailed, match="connection 'x' is not registered for process p"):
        run_process(run_context("p"), connection_lookup=airflow_connection)

    assert "(it registered: none)" in last_message(sql, "p")


def test_given_a_registered_connection_airflow_does_not_have_when_run_then_failed_naming_it_before_the_kernel(
    registry, stream, sql, lake_dir, tmp_path, connections, caplog
):
    marker = tmp_path / "ran.txt"
    _register(registry, stream, sql, "ok.ipynb", ["x", "crm_replica"], marker)

    with caplog.at_level(logging.DEBUG), pytest.raises(ProcessFailed, match="crm_replica"):
        run_process(run_context("p"), connection_lookup=airflow_connection)

    assert statuses(sql, "p") == ["FAILED"]
    assert last_message(sql, "p") == (
        "process p needs the Airflow connection 'crm_replica' (cntl_cfg_prcs.conn_ids), and Airflow has none of "
        "that id: define it in the Airflow UI (Admin → Connections), as AIRFLOW_CONN_CRM_REPLICA in the workers' "
        "environment, or in the secrets backend; the notebook was not started")
    assert not marker.exists()
    assert PASSWORD not in _everything_stored(sql, lake_dir) and PASSWORD not in caplog.text


def test_given_registered_connections_and_no_airflow_lookup_when_run_then_failed_saying_so(
    registry, stream, sql, tmp_path, connections
):
    """Outside an Airflow task (a test, a benchmark) no connection is read, and none is made up."""
    marker = tmp_path / "ran.txt"
    _register(registry, stream, sql, "ok.ipynb", ["x"], marker)

    with pytest.raises(ProcessFailed, match="only an Airflow task can read them"):
        run_process(run_context("p"))

    assert not marker.exists()


def test_given_the_control_connection_registered_past_a_dropped_constraint_when_run_then_refused_before_lookup(
    registry, stream, sql, tmp_path, control_db_url, monkeypatch
):
    """The database's CHECK is not the only guard between a notebook and the owner's URL: the runner refuses a
    platform connection again, in any case (Airflow's environment backend finds AIRFLOW_CONN_CNTL_AF for both)."""
    monkeypatch.setenv("AIRFLOW_CONN_CNTL_AF", control_db_url)
    sql("ALTER TABLE cntl_af.cntl_cfg_prcs DROP CONSTRAINT cntl_cfg_prcs_conn_ids_not_platform")
    marker = tmp_path / "ran.txt"
    _register(registry, stream, sql, "ok.ipynb", ["Cntl_Af"], marker)
    asked: list[str] = []

    def lookup(conn_id: str):
        asked.append(conn_id)
        return airflow_connection(conn_id)

    with pytest.raises(ProcessFailed, match="one of the platform's own"):
        run_process(run_context("p"), connection_lookup=lookup)

    assert asked == [] and not marker.exists()
    assert statuses(sql, "p") == ["FAILED"]


def test_given_a_notebook_failing_with_a_connection_password_when_recorded_then_the_log_row_hides_it(
    registry, stream, notebooks_dir, sql, tmp_path, connections, caplog
):
    write_notebook(notebooks_dir / "leaks.ipynb",
                   "from llf import notebook as nb\ncrm = nb.connection('x')\n"
                   "raise RuntimeError(f'login failed with {crm.password} at {crm.uri}')", parameters="marker = ''")
    _register(registry, stream, sql, "leaks.ipynb", ["x"], tmp_path / "unused")

    # INFO, the task log's level: at DEBUG papermill logs every message of the kernel, what the notebook prints
    # or raises included (the output notebook keeps that too: what a notebook prints is its author's choice)
    with caplog.at_level(logging.INFO), pytest.raises(ProcessFailed) as failed:
        run_process(run_context("p"), connection_lookup=airflow_connection)

    message = last_message(sql, "p")
    assert message.startswith("RuntimeError: login failed with *** at ***"), message
    assert PASSWORD not in message and PASSWORD not in str(failed.value) and PASSWORD not in caplog.text
