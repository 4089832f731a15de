"""Notebook code runs as the role llf_notebook, never as the owner of the control tables: a real run (runner,
papermill, a real kernel, the session's PostgreSQL) that touches registrations or the run log ends FAILED
with "permission denied" and changes nothing; what the SDK writes still goes through."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from llf.control import log as run_log
from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from tests.runner.conftest import BUSINESS_DATE, last_message, run_context, statuses
from tests.support.notebooks import write_notebook
from tests.support.standins.ollama_server import ollama_server

CONTROL_ROWS = {
    "cntl_cfg_strem": "SELECT strem_nm, actv_flg, fail_policy FROM cntl_af.cntl_cfg_strem ORDER BY strem_id",
    "cntl_cfg_prcs": "SELECT prcs_nm, actv_flg, params, timeout_min FROM cntl_af.cntl_cfg_prcs ORDER BY prcs_id",
    "cntl_cfg_log": "SELECT log_id, prcs_nm, status, message FROM cntl_af.cntl_cfg_log "
                    "WHERE prcs_nm IS DISTINCT FROM 'nb' ORDER BY log_id",
}


def _control_rows(sql) -> dict[str, list[tuple]]:
    return {table: sql(query) for table, query in CONTROL_ROWS.items()}


@pytest.fixture
def other_stream_history(registry, stream, control_db_url):
    """Another process of the stream with a SUCCESS in the run log: what a notebook must never erase."""
    registry.process(stream["group"], "other", params={"greeting": "keep me"})
    run_log.mark_success(control_db_url, run_context("other"), "done yesterday")


@pytest.mark.parametrize("statement", [
    "UPDATE cntl_af.cntl_cfg_prcs SET actv_flg = false, params = '{}'::jsonb",
    "DELETE FROM cntl_af.cntl_cfg_log",
    "UPDATE cntl_af.cntl_cfg_log SET status = 'SUCCESS', message = 'all good'",
    "INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('planted')",
    "TRUNCATE cntl_af.cntl_cfg_log CASCADE",
])
def test_given_a_notebook_changing_registrations_or_the_run_log_when_run_then_failed_permission_denied_unchanged(
    registry, stream, notebooks_dir, sql, other_stream_history, statement
):
    write_notebook(notebooks_dir / "rewrite.ipynb", f"from llf import notebook as nb\nnb.sql({statement!r})")
    registry.process(stream["group"], "nb", notebook="rewrite.ipynb")
    before = _control_rows(sql)

    with pytest.raises(ProcessFailed, match="permission denied"):
        run_process(run_context("nb"))

    assert statuses(sql, "nb") == ["FAILED"]
    message = last_message(sql, "nb")
    assert "InsufficientPrivilege: permission denied for table cntl_cfg_" in message, message
    assert _control_rows(sql) == before


def test_given_a_notebook_connecting_with_its_own_psycopg2_when_it_deletes_the_run_log_then_it_is_refused_too(
    registry, stream, notebooks_dir, sql, other_stream_history
):
    """The URL in the kernel's environment is the notebook role's, whatever the code does with it."""
    write_notebook(notebooks_dir / "raw.ipynb",
                   "import os, psycopg2\n"
                   "with psycopg2.connect(os.environ['LLF_CONTROL_DB_URL']) as db, db.cursor() as cursor:\n"
                   "    cursor.execute('DELETE FROM cntl_af.cntl_cfg_log')")
    registry.process(stream["group"], "nb", notebook="raw.ipynb")
    before = _control_rows(sql)

    with pytest.raises(ProcessFailed, match="permission denied for table cntl_cfg_log"):
        run_process(run_context("nb"))

    assert _control_rows(sql) == before


SDK_WRITES = """
from llf import notebook as nb
from llf.services.vectors import VectorItem

nb.log('scoring started')
llm = nb.llm()
first = llm.complete('hello notebook role')
again = llm.complete('hello notebook role')  # answered from the cache: its hit counter is updated
nb.sql('INSERT INTO llf_results.scores (run_id, score) VALUES (%s, %s)', (nb.context().run_id, 0.9))
nb.sql('UPDATE llf_results.scores SET score = 1.0 WHERE run_id = %s', (nb.context().run_id,))
store = nb.vectors('notebook_role_items')
store.upsert([VectorItem(id='a', text='alpha', vector=[1.0, 0.0, 0.0]),
              VectorItem(id='b', text='beta', vector=[0.0, 1.0, 0.0])])
assert [hit.text for hit in store.search([1.0, 0.1, 0.0], k=1)] == ['alpha']
assert store.delete(ids=['b']) == 1 and store.count() == 1
"""


def test_given_a_notebook_writing_progress_usage_cache_results_and_vectors_when_run_then_success(
    registry, stream, notebooks_dir, sql, monkeypatch
):
    sql("CREATE TABLE llf_results.scores (id integer GENERATED ALWAYS AS IDENTITY, run_id text, score real)")
    sql("SELECT cntl_af.grant_to_stream('s', 'llf_results.scores')")  # a registered table, given to its stream
    write_notebook(notebooks_dir / "writes.ipynb", SDK_WRITES)
    registry.process(stream["group"], "nb", notebook="writes.ipynb")
    for name in ("LLF_LLM_PROVIDER", "LLF_LLM_CACHE", "LLF_LLM_HOOKS", "LLF_VECTOR_URL"):
        monkeypatch.delenv(name, raising=False)

    with ollama_server() as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        monkeypatch.setenv("LLF_LLM_MODEL", "llama3.2")
        run_process(run_context("nb"))

    assert statuses(sql, "nb") == ["SUCCESS"], last_message(sql, "nb")
    (log_id,) = sql("SELECT log_id FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'nb'")[0]
    assert sql("SELECT log_id, message FROM cntl_af.cntl_prcs_progress WHERE prcs_nm = 'nb'") == [
        (log_id, "scoring started")]
    assert sql("SELECT cache_hit_flg FROM cntl_af.cntl_llm_usage WHERE prcs_nm = 'nb' ORDER BY usage_id") == [
        (False,), (True,)]
    assert sql("SELECT hit_cnt FROM cntl_af.cntl_llm_cache") == [(1,)]
    assert sql("SELECT run_id, score FROM llf_results.scores") == [("run_nb", 1.0)]
    assert sql("SELECT count(*), pg_get_userbyid(c.relowner) FROM llf_vectors.notebook_role_items, pg_class c "
               "WHERE c.oid = 'llf_vectors.notebook_role_items'::regclass GROUP BY c.relowner") == [
        (1, sql("SELECT cntl_af.stream_role('s')")[0][0])]  # the stream's own: no other stream may use or drop it


def test_given_a_results_table_of_another_stream_when_a_notebook_reads_it_then_failed_permission_denied(
    registry, stream, notebooks_dir, sql
):
    """The kernel connects as its stream's login (llf.control.stream_logins), never the shared one."""
    sql("CREATE TABLE llf_results.their_scores (score real)")
    sql("INSERT INTO llf_results.their_scores VALUES (0.5)")
    registry.stream("t")
    sql("SELECT cntl_af.grant_to_stream('t', 'llf_results.their_scores')")
    write_notebook(notebooks_dir / "peek.ipynb",
                   "import os, psycopg2\n"
                   "assert 'llf_notebook_login' not in os.environ['LLF_CONTROL_DB_URL']\n"
                   "with psycopg2.connect(os.environ['LLF_CONTROL_DB_URL']) as db, db.cursor() as cursor:\n"
                   "    cursor.execute('SELECT score FROM llf_results.their_scores')")
    registry.process(stream["group"], "nb", notebook="peek.ipynb")

    with pytest.raises(ProcessFailed, match="permission denied for table their_scores"):
        run_process(run_context("nb"))

    assert sql("SELECT score FROM llf_results.their_scores") == [(0.5,)]


def test_given_no_notebook_database_setting_when_run_then_failed_naming_it_before_the_kernel_starts(
    registry, stream, sql, tmp_path, monkeypatch
):
    """No silent fallback to the owner's URL: the safe default is to refuse, with the fix in the run log."""
    monkeypatch.delenv("LLF_NOTEBOOK_DB_URL")
    marker = tmp_path / "ran.txt"
    registry.process(stream["group"], "p", params={"marker": str(marker)})

    with pytest.raises(ProcessFailed, match="LLF_NOTEBOOK_DB_URL"):
        run_process(run_context("p"))

    assert statuses(sql, "p") == ["FAILED"]
    assert "cntl_af_notebook" in last_message(sql, "p") and "llf_notebook" in last_message(sql, "p")
    assert not marker.exists()


def test_given_the_owner_url_chosen_for_notebooks_when_run_then_it_runs_and_the_task_log_warns(
    registry, stream, sql, tmp_path, monkeypatch, control_db_url, caplog
):
    monkeypatch.setenv("LLF_NOTEBOOK_DB_URL", control_db_url)
    registry.process(stream["group"], "p", params={"marker": str(tmp_path / "ran.txt")})

    with caplog.at_level(logging.WARNING, logger="llf.runner.process"):
        run_process(run_context("p"))

    assert statuses(sql, "p") == ["SUCCESS"]
    assert "the owner of the control tables" in caplog.text
    assert BUSINESS_DATE.isoformat() in (tmp_path / "ran.txt").read_text()


def test_given_the_weaviate_key_only_in_the_llf_vectors_connection_when_run_then_the_kernel_gets_it_unseen(
    registry, stream, notebooks_dir, sql, tmp_path, lake_dir, monkeypatch
):
    """compose stores the key as the password of the Airflow connection llf_vectors; the kernel is not an
    Airflow task and cannot look connections up, so the runner hands it over, and prints it nowhere. Only with
    LLF_VECTOR_STREAM_KEYS off: otherwise the kernel gets its attempt's own key (test_stream_vector_key.py)."""
    key = "weaviate-key-" + "7f3a9c"
    monkeypatch.delenv("LLF_WEAVIATE_API_KEY", raising=False)
    monkeypatch.setenv("LLF_VECTOR_STREAM_KEYS", "off")
    monkeypatch.setenv("LLF_VECTOR_URL", "weaviate://127.0.0.1:9?grpc_port=9")
    monkeypatch.setenv("AIRFLOW_CONN_LLF_VECTORS", json.dumps({"conn_type": "http", "host": "127.0.0.1",
                                                                 "password": key}))
    write_notebook(notebooks_dir / "key.ipynb",
                   "import hashlib, os, pathlib\n"
                   "pathlib.Path(marker).write_text(hashlib.sha256(os.environ['LLF_WEAVIATE_API_KEY'].encode())"
                   ".hexdigest())", parameters="marker = ''")
    registry.process(stream["group"], "p", notebook="key.ipynb", params={"marker": str(tmp_path / "key.sha")})

    run_process(run_context("p"))

    assert (tmp_path / "key.sha").read_text() == hashlib.sha256(key.encode()).hexdigest()
    outputs = [path.read_text(encoding="utf-8") for path in lake_dir.rglob("*") if path.is_file()]
    assert outputs and not any(key in text for text in outputs)
    assert key not in str(sql("SELECT * FROM cntl_af.cntl_cfg_log"))


def test_given_airflow_settings_and_secrets_in_the_worker_environment_when_a_notebook_runs_then_it_sees_none(
    registry, stream, notebooks_dir, sql, control_db_url, monkeypatch
):
    """The owner's rights must not be one os.environ lookup away: Airflow's config, connections and variables
    stay in the worker; what llf hands the kernel (run context, notebook URL) and ordinary settings arrive."""
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://airflow:metadata-pw@db/airflow")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "jwt-signing-secret")
    monkeypatch.setenv("AIRFLOW_CONN_CNTL_AF", control_db_url)
    monkeypatch.setenv("AIRFLOW_VAR_TOKEN", "variable-secret")
    monkeypatch.setenv("LLF_LLM_MODEL", "kept-model")
    write_notebook(notebooks_dir / "env.ipynb",
                   "import os\n"
                   "leaked = sorted(name for name in os.environ if name.startswith('AIRFLOW_'))\n"
                   "assert not leaked, leaked\n"
                   "assert os.environ['LLF_LLM_MODEL'] == 'kept-model'\n"
                   "assert os.environ['LLF_CONTROL_DB_URL'] == os.environ['LLF_NOTEBOOK_DB_URL'] != "
                   f"{control_db_url!r}\n"
                   "assert 'LLF_RUN_CONTEXT' in os.environ")
    registry.process(stream["group"], "nb", notebook="env.ipynb")

    run_process(run_context("nb"))

    assert statuses(sql, "nb") == ["SUCCESS"], last_message(sql, "nb")


# What a worker may hold that notebook code has no business with: libpq's defaults, cloud credentials, any
# token, Airflow's own settings, and llf's settings of the platform (the owner's URL, Airflow's login).
WORKER_ONLY = {
    "PGPASSWORD": "pg-secret", "PGUSER": "postgres", "PGSERVICEFILE": "/etc/pg_service.conf",
    "AWS_SECRET_ACCESS_KEY": "aws-secret", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SESSION_TOKEN": "aws-session",
    "GOOGLE_APPLICATION_CREDENTIALS": "/secrets/gcp.json", "AZURE_CLIENT_SECRET": "azure-secret",
    "FOO_TOKEN": "foo-token", "AIRFLOW__CORE__FERNET_KEY": "fernet-key", "JUPYTER_TOKEN": "jupyter-token",
    "LLF_AIRFLOW_PASSWORD": "airflow-admin-password", "LLF_EXAMPLE_SETTING": "unknown to llf",
}


def test_given_secrets_of_every_kind_in_the_worker_environment_when_a_notebook_runs_then_only_the_allowlist_arrives(
    registry, stream, notebooks_dir, sql, tmp_path, monkeypatch
):
    """The kernel's environment is built from an allowlist, not the worker's less a denylist: what the worker
    holds for itself never reaches notebook code; what a Python kernel and the SDK need does."""
    for name, value in WORKER_ONLY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LLF_LLM_MODEL", "kept-model")
    monkeypatch.setenv("LLF_LAKE_URL", (tmp_path / "lake").as_uri())
    write_notebook(notebooks_dir / "env.ipynb",
                   "import json, os, pathlib\n"
                   "pathlib.Path(marker).write_text(json.dumps(dict(os.environ)))", parameters="marker = ''")
    registry.process(stream["group"], "p", notebook="env.ipynb", params={"marker": str(tmp_path / "env.json")})

    run_process(run_context("p"))

    kernel = json.loads((tmp_path / "env.json").read_text())
    assert sorted(set(WORKER_ONLY) & set(kernel)) == []
    assert not {value for value in kernel.values()} & set(WORKER_ONLY.values())
    assert {name: kernel.get(name) for name in ("LANG", "LLF_LLM_MODEL", "LLF_LAKE_URL")} == {
        "LANG": "C.UTF-8", "LLF_LLM_MODEL": "kept-model", "LLF_LAKE_URL": (tmp_path / "lake").as_uri()}
    assert kernel["PATH"] and kernel["HOME"] and "LLF_RUN_CONTEXT" in kernel and "LLF_CONTROL_DB_URL" in kernel
    assert statuses(sql, "p") == ["SUCCESS"]
