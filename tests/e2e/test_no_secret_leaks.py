"""No configured secret appears in anything a real stream run leaves behind (issue 15, item 4).

A stack of its own, because its settings are the point: an Airflow whose control DB URL carries a password
(a `?password=` query parameter), whose notebooks connect with another login's password (a keyword DSN), whose
LLM is an OpenAI-compatible endpoint with an API key, whose lake is S3 with a secret key and whose vectors
are in Weaviate behind an API key; every secret distinctive, each one really used. The embedded server
trusts local connections, so the logins get real passwords that are simply not checked.

One stream runs: `busy` uses every service; `broken` fails the way a notebook does when the database is
unreachable (the error names the URL). Then every artifact is searched for every form of every secret:
the lake's objects (output notebooks and HTML), every file under AIRFLOW_HOME (task and component logs,
llf's snapshot cache), task logs and other JSON of Airflow's REST API, the llf UI's pages and API, every
row of every table of the control database, and the output of `llf status` and `llf validate`.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, urlsplit

import httpx
import psycopg2
import pytest
from minio import Minio
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from llf.control.model import process_dag_id, stream_dag_id
from llf.local.airflow import AirflowStack
from llf.local.postgres import EmbeddedPostgres, with_database
from tests.support.notebooks import write_notebook
from tests.support.registry import Registry, Run, sql_runner
from tests.support.standins.ollama_server import OllamaStandin, ollama_server
from tests.support.standins.s3_server import s3_server
from tests.support.standins.weaviate_server import weaviate_server

REPO_ROOT = Path(__file__).resolve().parents[2]
BUSINESS_DATE = dt.date(2026, 4, 1)
BUCKET = "leaks-lake"
METADATA_DATABASE = "airflow_leaks"
DEAD_SOCKET_DIR = "/nonexistent-llf-socket-dir"
FAILURE = "Cannot reach the control database at"
STARTUP_TIMEOUT = 300  # no warm-up DAG: the first parse and run pay the cold imports
RUN_TIMEOUT = 420
STEPS = ("busy", "broken")
PARAMETERS = "prcs_nm = ''\nbusiness_date = ''"
BUSY = """\
from llf import notebook as nb
nb.log("leak check: asking the LLM")
answer = nb.llm().complete("Say hello to the leak check")
nb.log(f"the LLM answered {answer!r}")
vectors = nb.vectors("LeakCheck")
vectors.upsert(["secrets stay in the environment", "outputs are searched for them"])
nb.log(f"nearest: {vectors.search('secrets', k=1)[0].text}")
nb.lake().put(f"leaks/{business_date}/answer.txt", answer)
nb.sql("SELECT 1")
"""


@dataclass(frozen=True)
class Secrets:
    """One distinctive value per secret; each holds characters URLs and DSNs must escape."""

    db_owner: str
    db_notebook: str
    openai_key: str
    minio_secret: str
    weaviate_key: str

    @classmethod
    def new(cls) -> Secrets:
        def value(label: str) -> str:
            return f"{label}{secrets.token_hex(6)} x'y@z/%&"

        return cls(value("OwnerPw"), value("NbPw"), value("sk-OpenAi"), value("MinioSk"), value("WvKey"))

    def forms(self) -> dict[str, set[str]]:
        """Each secret's name -> every spelling of it worth searching for: as is, URL- and form-encoded, and
        its distinctive first word alone (what any partial quote of it still shows)."""
        return {name: {value, quote(value, safe=""), quote_plus(value), value.split()[0]}
                for name, value in vars(self).items()}


@dataclass(frozen=True)
class Database:
    owner_url: str  # LLF_CONTROL_DB_URL: a URL with ?password=
    notebook_url: str  # LLF_NOTEBOOK_DB_URL: a keyword DSN with password='...'
    socket_dir: str


@dataclass(frozen=True)
class Services:
    llm: OllamaStandin
    weaviate_url: str
    s3_endpoint: str


@dataclass(frozen=True)
class LeakRun:
    stream: str
    run_id: str
    state: str
    stack: AirflowStack
    run_sql: Run


@pytest.fixture(scope="module")
def leak_secrets() -> Secrets:
    return Secrets.new()


@pytest.fixture(scope="module")
def database(postgres: EmbeddedPostgres, leak_secrets: Secrets) -> Database:
    """A fresh control DB, an owner login and a notebook login, each with its password."""
    database_url = postgres.fresh_database(prefix="leaks")
    name = urlsplit(database_url).path.lstrip("/")
    socket_dir = parse_dsn(postgres.admin_url)["host"]
    suffix = secrets.token_hex(3)
    owner, notebook = f"leak_owner_{suffix}", f"leak_notebook_{suffix}"
    _create_login(postgres.admin_url, owner, leak_secrets.db_owner, group=None)
    _create_login(postgres.admin_url, notebook, leak_secrets.db_notebook, group="llf_notebook")
    owner_url = (f"postgresql://{owner}@/{name}?host={quote(socket_dir, safe='/')}"
                 f"&password={quote(leak_secrets.db_owner, safe='')}")
    notebook_url = make_dsn(host=socket_dir, dbname=name, user=notebook, password=leak_secrets.db_notebook)
    return Database(owner_url, notebook_url, socket_dir)


def _create_login(admin_url: str, login: str, password: str, group: str | None) -> None:
    """A login with `password`: a member of `group` running as it when the group exists (the notebook role
    of llf/control/sql/0025), else a superuser, as the owner of the control tables is here."""
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(login), sql.Literal(password)))
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,))
            if group and cursor.fetchone():
                cursor.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(login)))
                cursor.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(
                    sql.Identifier(login), sql.Literal(group)))
            else:
                cursor.execute(sql.SQL("ALTER ROLE {} SUPERUSER").format(sql.Identifier(login)))
    finally:
        connection.close()


@pytest.fixture(scope="module")
def services(leak_secrets: Secrets) -> Iterator[Services]:
    """The LLM (OpenAI-compatible /v1), Weaviate requiring the API key, and S3, on ephemeral ports."""
    with ExitStack() as stack:
        llm = stack.enter_context(ollama_server())
        weaviate = stack.enter_context(weaviate_server(api_key=leak_secrets.weaviate_key))
        s3_endpoint = stack.enter_context(s3_server())
        yield Services(llm, weaviate.url, s3_endpoint)


def _stack_env(leak_secrets: Secrets, database: Database, services: Services, notebooks: Path) -> dict[str, str]:
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
        "LLF_SNAPSHOT_REFRESH_SECONDS": "2",
        "LLF_CONTROL_DB_URL": database.owner_url,
        "LLF_NOTEBOOK_DB_URL": database.notebook_url,
        "LLF_NOTEBOOKS_DIR": str(notebooks),
        "LLF_LLM_PROVIDER": "openai",
        "LLF_OPENAI_BASE_URL": f"{services.llm.url}/v1",
        "LLF_OPENAI_API_KEY": leak_secrets.openai_key,
        "LLF_LLM_MODEL": "llama3.2",
        "LLF_EMBED_MODEL": "nomic-embed-text",
        "LLF_LLM_RETRY_WAIT": "0.1",
        "LLF_VECTOR_URL": services.weaviate_url,
        "LLF_WEAVIATE_API_KEY": leak_secrets.weaviate_key,
        "LLF_LAKE_URL": f"s3://{BUCKET}/lake",
        "LLF_MINIO_ENDPOINT": services.s3_endpoint,
        "LLF_MINIO_ACCESS_KEY": "leak-check-access",
        "LLF_MINIO_SECRET_KEY": leak_secrets.minio_secret,
    }


@pytest.fixture(scope="module")
def leak_stack(postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory, leak_secrets: Secrets,
               database: Database, services: Services) -> Iterator[AirflowStack]:
    """Airflow's four components with the secrets above, serving the project's dags/ only."""
    postgres.execute_admin(f"DROP DATABASE IF EXISTS {METADATA_DATABASE}")
    postgres.execute_admin(f"CREATE DATABASE {METADATA_DATABASE}")
    metadata_url = with_database(postgres.admin_url, METADATA_DATABASE).replace(
        "postgresql://", "postgresql+psycopg2://", 1)
    notebooks = tmp_path_factory.mktemp("leak-notebooks")
    stack = AirflowStack(home=tmp_path_factory.mktemp("leak-airflow-home"), metadata_db_url=metadata_url,
                         dags_folders={"llf": REPO_ROOT / "dags"},
                         extra_env=_stack_env(leak_secrets, database, services, notebooks))
    stack.start(timeout=STARTUP_TIMEOUT)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def leak_run(leak_stack: AirflowStack, database: Database) -> Iterator[LeakRun]:
    """The stream `busy` + `broken`, registered by SQL, triggered through the REST API, waited for."""
    stream = f"leaks_{secrets.token_hex(3)}"
    notebooks = Path(leak_stack.extra_env["LLF_NOTEBOOKS_DIR"])
    broken = ("import os\nfrom llf.db import transaction\n"
              f"url = os.environ['LLF_CONTROL_DB_URL'].replace({database.socket_dir!r}, {DEAD_SOCKET_DIR!r})\n"
              "with transaction(url) as cursor:\n    cursor.execute('SELECT 1')")
    with sql_runner(database.owner_url) as run_sql:
        registry = Registry(run_sql)
        group = registry.group(registry.stream(stream), f"{stream}_all", max_parallel=2)
        for priority, (step, code) in enumerate([("busy", BUSY), ("broken", broken)], start=1):
            write_notebook(notebooks / stream / f"{step}.ipynb", code, parameters=PARAMETERS)
            registry.process(group, f"{stream}_{step}", priority=priority, notebook=f"{stream}/{step}.ipynb")
        api = leak_stack.client()
        for dag_id in [stream_dag_id(stream), *(process_dag_id(f"{stream}_{step}") for step in STEPS)]:
            api.wait_for_dag(dag_id, timeout=STARTUP_TIMEOUT)
        run_id = api.trigger(stream_dag_id(stream), {"business_date": BUSINESS_DATE.isoformat()})
        state = api.wait_for_run(stream_dag_id(stream), run_id, timeout=RUN_TIMEOUT)
        yield LeakRun(stream, run_id, state, leak_stack, run_sql)


def _latest(leak_run: LeakRun) -> dict[str, tuple[str, str, str | None]]:
    """step -> (status, message, output_path) of its latest attempt in this stream run."""
    rows = leak_run.run_sql(
        "SELECT DISTINCT ON (prcs_nm) prcs_nm, status, message, output_path FROM cntl_af.cntl_cfg_log "
        "WHERE strem_run_id = %s AND prcs_nm IS NOT NULL ORDER BY prcs_nm, log_id DESC", (leak_run.run_id,))
    return {name.removeprefix(f"{leak_run.stream}_"): tuple(rest) for name, *rest in rows}


def _leaks(artifacts: dict[str, str], leak_secrets: Secrets) -> list[str]:
    """'<secret> in <artifact>: …context…' for every spelling of every secret found, the secret masked."""
    found = []
    for name, spellings in leak_secrets.forms().items():
        for artifact, text in artifacts.items():
            for spelling in spellings:
                at = text.find(spelling)
                if at >= 0:
                    context = text[max(0, at - 80):at + len(spelling) + 40].replace(spelling, f"<{name}>")
                    found.append(f"{name} in {artifact}: …{context}…")
                    break
    return found


def test_given_the_secret_settings_when_the_stream_ran_then_every_service_was_used_and_broken_failed_redacted(
    leak_run: LeakRun, services: Services
) -> None:
    """The search below is only worth something if the run used every secret and failed where it should."""
    latest = _latest(leak_run)

    assert leak_run.state == "failed"
    assert {step: row[0] for step, row in latest.items()} == {"busy": "SUCCESS", "broken": "FAILED"}, latest
    assert FAILURE in latest["broken"][1]
    assert "password=***" in latest["broken"][1]
    assert latest["busy"][2] and latest["broken"][2]  # both output folders stored in S3
    assert services.llm.behaviour.calls_to("/v1/chat/completions")
    assert leak_run.run_sql("SELECT count(*) FROM cntl_af.cntl_prcs_progress")[0][0] >= 3


def _lake_objects(leak_stack: AirflowStack) -> dict[str, str]:
    env = leak_stack.extra_env
    client = Minio(env["LLF_MINIO_ENDPOINT"], access_key=env["LLF_MINIO_ACCESS_KEY"],
                   secret_key=env["LLF_MINIO_SECRET_KEY"], secure=False, region="us-east-1")
    objects = {}
    for item in client.list_objects(BUCKET, recursive=True):
        response = client.get_object(BUCKET, item.object_name)
        try:
            objects[f"s3://{BUCKET}/{item.object_name}"] = response.read().decode("utf-8", "replace")
        finally:
            response.close()
            response.release_conn()
    return objects


def _home_files(leak_stack: AirflowStack) -> dict[str, str]:
    """Every file under AIRFLOW_HOME: task logs, component logs, llf's snapshot cache and kept outputs."""
    return {str(path): path.read_bytes().decode("utf-8", "replace")
            for path in leak_stack.home.rglob("*") if path.is_file()}


def _api(leak_stack: AirflowStack) -> httpx.Client:
    token = httpx.get(f"{leak_stack.base_url}/auth/token", timeout=10).raise_for_status().json()["access_token"]
    return httpx.Client(base_url=leak_stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _airflow_api(http: httpx.Client, leak_run: LeakRun) -> dict[str, str]:
    """DAGs, runs (their conf), task instances (rendered fields), XComs, task logs of every try, event log."""
    pages = {}

    def get(path: str, **params: object) -> dict:
        response = http.get(f"/api/v2{path}", params=params)
        pages[f"GET /api/v2{path}"] = f"{response.status_code} {response.text}"
        return response.json() if response.is_success else {}

    for path in ("/dags", "/eventLogs", "/importErrors", "/connections", "/variables", "/config", "/dagWarnings"):
        get(path, limit=100)
    dag_ids = [stream_dag_id(leak_run.stream), *(process_dag_id(f"{leak_run.stream}_{step}") for step in STEPS)]
    runs = [(dag_id, run["dag_run_id"]) for dag_id in dag_ids
            for run in get(f"/dags/{dag_id}/dagRuns", limit=100).get("dag_runs", [])]
    for dag_id, run_id in runs:
        get(f"/dags/{dag_id}/details")
        for task in get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100).get("task_instances", []):
            where = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task['task_id']}"
            for entry in get(f"{where}/xcomEntries").get("xcom_entries", []):
                get(f"{where}/xcomEntries/{entry['key']}")
            for attempt in range(1, (task.get("try_number") or 1) + 1):
                get(f"{where}/logs/{attempt}", full_content=True)
    return pages


def _ui(http: httpx.Client, leak_run: LeakRun) -> dict[str, str]:
    """The llf control plane's pages and JSON, and each stored output through it."""
    stream, run_id = leak_run.stream, leak_run.run_id
    paths = ["/llf/", f"/llf/?stream={stream}&date={BUSINESS_DATE}", "/llf/log?limit=200", f"/llf/log?stream={stream}",
             f"/llf/timeline?stream={stream}&run_id={quote(run_id)}", "/llf/api/streams", "/llf/api/log?limit=200",
             "/llf/api/stream-runs", f"/llf/api/timeline?stream={stream}&run_id={quote(run_id)}",
             "/llf/outputs/runs/nothing-here.html", "/llf/api/openapi.json"]
    for step, (_status, _message, output_path) in _latest(leak_run).items():
        folder = unquote(urlsplit(output_path or "").path).lstrip("/").split("/", 1)[-1]  # runs/... in the lake
        paths += [f"/llf/outputs/{folder}{stream}_{step}.{kind}" for kind in ("ipynb", "html") if output_path]
    pages = {}
    for path in paths:
        response = http.get(path)
        pages[f"GET {path}"] = f"{response.status_code} {response.headers} {response.text}"
    return pages


def _control_database(run_sql: Run) -> dict[str, str]:
    """Every row of every table of the control database, as text: the run log (all columns), progress,
    LLM usage and cache, registrations, results and vectors."""
    tables = run_sql("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                     "AND table_schema NOT IN ('pg_catalog', 'information_schema')")
    return {f"{schema}.{table}": "\n".join(row[0] for row in run_sql(
        sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(schema, table)))) for schema, table in tables}


def _cli(leak_run: LeakRun, database: Database) -> dict[str, str]:
    """`llf status` and `llf validate` as an operator runs them, and `llf status` against an unreachable DB."""
    env = {**os.environ, "COLUMNS": "250", **{key: value for key, value in leak_run.stack.extra_env.items()
                                                if key.startswith("LLF_")}}
    dead = database.owner_url.replace(quote(database.socket_dir, safe="/"), DEAD_SOCKET_DIR)
    commands = {"llf status": ["status", "--date", BUSINESS_DATE.isoformat()], "llf validate": ["validate"],
                "llf status (unreachable DB)": ["status", "--db-url", dead]}
    outputs = {}
    for name, arguments in commands.items():
        done = subprocess.run([sys.executable, "-m", "llf.cli", *arguments], env=env, text=True,
                              capture_output=True, timeout=120, check=False)
        outputs[name] = f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return outputs


@pytest.mark.parametrize("kind", ["lake objects", "AIRFLOW_HOME files", "Airflow REST API", "llf UI",
                                  "control database", "llf CLI"])
def test_given_a_stream_run_with_secrets_when_its_artifacts_are_searched_then_no_secret_is_found(
    leak_run: LeakRun, leak_secrets: Secrets, database: Database, kind: str
) -> None:
    collect = {
        "lake objects": lambda: _lake_objects(leak_run.stack),
        "AIRFLOW_HOME files": lambda: _home_files(leak_run.stack),
        "Airflow REST API": lambda: _airflow_api(_api(leak_run.stack), leak_run),
        "llf UI": lambda: _ui(_api(leak_run.stack), leak_run),
        "control database": lambda: _control_database(leak_run.run_sql),
        "llf CLI": lambda: _cli(leak_run, database),
    }[kind]

    artifacts = collect()

    # each kind holds broken's failure, where the URL (and, unredacted, its password) would show
    assert any(FAILURE in text for text in artifacts.values()), f"{kind}: no {FAILURE!r} in {list(artifacts)}"
    assert _leaks(artifacts, leak_secrets) == []
