"""End-to-end fixtures: one real Airflow per session, on the session's embedded PostgreSQL.

The stack serves every folder in DAG_BUNDLES as its own DAG bundle: the project's `dags/` (the llf DAGs,
built from the session's control database) beside the harness DAGs under tests/e2e/dags.
"""

from __future__ import annotations

import gc
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llf.airflow_api import AirflowClient, sync_pools
from llf.control.pools import registered_pools
from llf.local.airflow import AirflowStack, AirflowStackError
from llf.local.celery import CeleryExecution
from llf.local.postgres import EmbeddedPostgres, with_database
from tests.e2e.scenarios.streams import Scenario
from tests.support.registry import Registry, Run, sql_runner
from tests.support.standins.example_llm import example_responder
from tests.support.standins.ollama_server import OllamaBehaviour, OllamaStandin, ollama_server

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_BUNDLES: dict[str, Path] = {"e2e-harness": Path(__file__).parent / "dags", "llf": REPO_ROOT / "dags"}
METADATA_DATABASE = "airflow_e2e"
# New registrations must reach Airflow within seconds, not the production half minute.
SNAPSHOT_REFRESH_SECONDS = "2"
WARM_UP_DAG = "e2e_hello"
SOAK_TEST_FILE = "test_soak.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in tests/e2e is an `e2e` test, so `-m "not e2e"` skips the slow Airflow start."""
    e2e_dir = Path(__file__).parent
    for item in items:
        if e2e_dir in item.path.parents:
            item.add_marker(pytest.mark.e2e)
    # The chaos soak restarts PostgreSQL and kills Airflow's processes on purpose: it runs after every other test
    # that shares the session's stack (a stable sort keeps the rest in their order).
    items.sort(key=lambda item: item.path.name == SOAK_TEST_FILE)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    """A failed e2e test shows the tail of every Airflow component's log beside its traceback."""
    report = yield
    stacks = [value for value in getattr(item, "funcargs", {}).values() if isinstance(value, AirflowStack)]
    if report.failed:
        for stack in stacks:
            report.sections.append(("Airflow component logs", stack.logs_tail()))
    return report


@pytest.fixture(scope="session")
def e2e_control_db_url(postgres: EmbeddedPostgres) -> str:
    """The control database the stack's DAGs and tasks read (LLF_CONTROL_DB_URL), shared by the session.

    The yoyo backend that built the template sits in a reference cycle with its open connection, and
    CREATE DATABASE ... TEMPLATE refuses a template in use: collect it first.
    """
    gc.collect()
    return postgres.fresh_database(prefix="e2e")


@pytest.fixture(scope="session")
def e2e_notebooks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-notebooks")


@pytest.fixture(scope="session")
def e2e_lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-lake")


@pytest.fixture
def control_db_url(e2e_control_db_url: str, postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch) -> str:
    """In e2e tests `sql` and `registry` write where the running Airflow reads: the session's control DB.

    Tests share it, so each registers streams under names of its own.
    """
    monkeypatch.setenv("LLF_CONTROL_DB_URL", e2e_control_db_url)
    monkeypatch.setenv("LLF_NOTEBOOK_DB_URL", postgres.notebook_url(e2e_control_db_url))
    monkeypatch.setenv("LLF_UI_DB_URL", postgres.ui_url(e2e_control_db_url))
    return e2e_control_db_url


@pytest.fixture
def notebooks_dir(e2e_notebooks_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The notebooks folder the running Airflow's tasks read (LLF_NOTEBOOKS_DIR)."""
    monkeypatch.setenv("LLF_NOTEBOOKS_DIR", str(e2e_notebooks_dir))
    return e2e_notebooks_dir


@pytest.fixture(scope="session")
def e2e_ollama() -> Iterator[OllamaStandin]:
    """The LLM of the stack's tasks (OLLAMA_HOST): the Ollama stand-in answering like the examples' small model."""
    with ollama_server(OllamaBehaviour(responder=example_responder)) as server:
        yield server


@pytest.fixture(scope="session")
def airflow(
    postgres: EmbeddedPostgres,
    tmp_path_factory: pytest.TempPathFactory,
    e2e_control_db_url: str,
    e2e_notebooks_dir: Path,
    e2e_lake_dir: Path,
    e2e_ollama: OllamaStandin,
) -> Iterator[AirflowStack]:
    """Scheduler, dag-processor, triggerer and api-server, started once and stopped at session end; the session's
    registered pools synced into it, as every stack's init does (`llf pools sync`)."""
    with running_stack(postgres, tmp_path_factory.mktemp("airflow-home"), METADATA_DATABASE,
                       {"LLF_CONTROL_DB_URL": e2e_control_db_url, "LLF_NOTEBOOKS_DIR": str(e2e_notebooks_dir),
                        "LLF_LAKE_URL": e2e_lake_dir.as_uri(), "OLLAMA_HOST": e2e_ollama.url}) as stack:
        yield stack


@contextmanager
def running_stack(postgres: EmbeddedPostgres, home: Path, metadata_database: str, llf_env: dict[str, str],
                  celery: CeleryExecution | None = None) -> Iterator[AirflowStack]:
    """A test stack on its own (new) metadata database, started and warmed up, stopped on leaving.

    `llf_env`: LLF_CONTROL_DB_URL, LLF_NOTEBOOKS_DIR, LLF_LAKE_URL and OLLAMA_HOST of its tasks.
    """
    postgres.execute_admin(f"DROP DATABASE IF EXISTS {metadata_database}")
    postgres.execute_admin(f"CREATE DATABASE {metadata_database}")
    metadata_url = with_database(postgres.admin_url, metadata_database).replace(
        "postgresql://", "postgresql+psycopg2://", 1
    )
    stack = AirflowStack(
        home=home,
        metadata_db_url=metadata_url,
        dags_folders=DAG_BUNDLES,
        extra_env={
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            "LLF_NOTEBOOK_DB_URL": postgres.notebook_url(llf_env["LLF_CONTROL_DB_URL"]),
            # the control-plane UI in the api-server reads as llf_ui_reader, as in compose and local mode
            "LLF_UI_DB_URL": postgres.ui_url(llf_env["LLF_CONTROL_DB_URL"]),
            "LLF_SNAPSHOT_REFRESH_SECONDS": SNAPSHOT_REFRESH_SECONDS,
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "LLF_LLM_RETRY_WAIT": "0.1",
            # Retry drills should not wait Airflow's default 300 s between tries.
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
            **llf_env,
        },
        celery=celery,
    )
    stack.start()
    try:
        sync_pools(stack.client(), registered_pools(llf_env["LLF_CONTROL_DB_URL"]))
        _warm_up(stack.client())
        yield stack
    finally:
        stack.stop()


def _warm_up(api: AirflowClient) -> None:
    """One deferred run before the first test: the api-server's execution API and the triggerer pay
    their cold imports here (~20 s on a busy machine), not inside the first scenario's timeout."""
    api.wait_for_dag(WARM_UP_DAG, timeout=120)
    run_id = api.trigger(WARM_UP_DAG)
    state = api.wait_for_run(WARM_UP_DAG, run_id, timeout=180)
    if state != "success":
        raise AirflowStackError(f"Warm-up run {WARM_UP_DAG}/{run_id} ended {state}")


@pytest.fixture(scope="session")
def airflow_api(airflow: AirflowStack) -> AirflowClient:
    """The stack's REST API v2, authenticated as admin."""
    return airflow.client()


@pytest.fixture(scope="session")
def e2e_sql(e2e_control_db_url: str) -> Iterator[Run]:
    """Run SQL against the session's control database (the one the stack reads), committed at once."""
    with sql_runner(e2e_control_db_url) as run:
        yield run


@pytest.fixture(scope="session")
def new_scenario(
    airflow_api: AirflowClient, e2e_sql: Run, e2e_notebooks_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Scenario]:
    """A factory of scenarios named `<label>_<random>`: unique in the session's shared control DB.

    Session-scoped so a module can share one stream run between tests (run once, asserted twice).
    """
    return scenario_factory(airflow_api, e2e_sql, e2e_notebooks_dir, tmp_path_factory.mktemp("e2e-markers"))


def scenario_factory(api: AirflowClient, sql: Run, notebooks_dir: Path, markers: Path) -> Callable[[str], Scenario]:
    """Scenarios named `<label>_<random>` on the stack of `api`, registered through `sql`."""

    def make(label: str) -> Scenario:
        name = f"{label}_{secrets.token_hex(3)}"
        return Scenario(name=name, notebooks_dir=notebooks_dir, marker=markers / f"{name}.executions",
                        registry=Registry(sql), sql=sql, api=api)

    return make


@pytest.fixture
def cli_env(airflow: AirflowStack, control_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI points at the session's Airflow and control DB, wide enough that tables keep names whole."""
    monkeypatch.setenv("LLF_AIRFLOW_URL", airflow.base_url)
    monkeypatch.delenv("LLF_AIRFLOW_USER", raising=False)
    monkeypatch.delenv("LLF_AIRFLOW_PASSWORD", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
