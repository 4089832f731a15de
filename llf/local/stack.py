"""The local stack: embedded PostgreSQL + Airflow's four components, started once and reused; on LocalExecutor,
or on CeleryExecutor with a redis-server and the `airflow celery worker`s `llf local up --worker` names.

It runs one project (llf.settings.project_dir): its `dags/`, `notebooks/` and `plugins/` (when it has plugins of
its own: llf's UI plugin comes through its `airflow.plugins` entry point). Everything lives under one folder
(LLF_LOCAL_DIR, default `.llf-local/` in the project): the database files,
Airflow's home and logs, the lake, and `state.json` naming the component processes, so `make stop` (another
process) can stop them and `make demo` again reuses what is still running.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from psycopg2 import sql

from llf.airflow_api import api_healthy
from llf.control.migrations import upgrade
from llf.db import transaction
from llf.exceptions import ConfigurationError
from llf.local.airflow import AirflowStack, is_alive, stop_components
from llf.local.celery import CeleryExecution, CeleryWorker, redis_server_path
from llf.local.postgres import EmbeddedPostgres
from llf.services.llm.settings import LlmSettings
from llf.services.vectors.pgvector import SCHEMA as VECTOR_SCHEMA
from llf.settings import LOCAL_PORT, local_dir, project_dir

CONTROL_DATABASE = "llf"
METADATA_DATABASE = "airflow"
# Celery's task results: a database of its own, reached by a login that owns nothing else (the workers hold it).
RESULT_DATABASE = "airflow_celery_results"
RESULT_LOGIN = "llf_celery"
# New registrations reach the DAGs within seconds (production default: half a minute).
SNAPSHOT_REFRESH_SECONDS = "5"
PORT_PATIENCE_SEC = 10  # how long `up` waits for the port of the components it just stopped

Say = Callable[[str], None]


@dataclass(frozen=True)
class LocalSettings:
    """Which project local mode runs, where it keeps its state and which port the UI takes."""

    home: Path
    port: int
    project_folder: Path | None = field(default_factory=project_dir)  # None: not needed (stop)

    @classmethod
    def from_env(cls, *, with_project: bool = True) -> LocalSettings:
        """The settings of this environment; `with_project=False` for what needs only the stack's folder (`llf
        local stop` with LLF_LOCAL_DIR set works outside any project)."""
        return cls(home=local_dir(), port=LOCAL_PORT.value(),
                   project_folder=project_dir() if with_project else None)

    @property
    def project(self) -> Path:
        """The project the stack runs (llf.settings.project_dir)."""
        return self.project_folder if self.project_folder is not None else project_dir()

    @property
    def notebooks(self) -> Path:
        """The project's notebooks, the folder its components run them from."""
        return self.project / "notebooks"

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def llm_file(self) -> Path:
        return self.home / "llm.json"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class RunningStack:
    project: Path
    control_db_url: str
    base_url: str
    lake: Path
    logs: Path
    reused: bool
    llm_changed: bool  # another LLM than last time: work done for a date with the old one must be redone


class LocalStack:
    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings

    def up(self, llm_env: Mapping[str, str], say: Say, workers: tuple[CeleryWorker, ...] = ()) -> RunningStack:
        """Start (or reuse) PostgreSQL and Airflow; apply the control schema. Idempotent.

        With `workers`, Airflow runs CeleryExecutor with these workers (and a redis-server broker), else
        LocalExecutor; a running stack with another executor or other workers is started again.
        """
        if workers:
            redis_server_path()  # a missing broker is said before anything starts
        settings = self.settings
        settings.home.mkdir(parents=True, exist_ok=True)
        settings.lake.mkdir(exist_ok=True)
        postgres = EmbeddedPostgres(settings.pgdata, keep_running=True)
        control_db_url = postgres.ensure_database(CONTROL_DATABASE)
        applied = upgrade(control_db_url)
        say(f"PostgreSQL: {settings.pgdata} (control schema: {len(applied)} migration(s) applied now)")
        _close_to_kernels(settings, say)
        llm_changed = self._note_llm(control_db_url, llm_env, say)
        env = self._component_env(control_db_url, postgres.notebook_url(control_db_url),
                                  postgres.ui_url(control_db_url), llm_env)
        state = self._read_state()
        executor = [asdict(worker) for worker in workers]  # as state.json keeps it
        reused = state.get("env") == env and state.get("workers", []) == executor and self._running(state)
        if reused:
            say(f"Airflow: already running at {settings.base_url}, reused.")
        else:
            self._stop_components(state)
            _check_port_free(settings.port)
            say(f"Airflow: starting scheduler, dag-processor, triggerer and api-server on {settings.base_url} "
                f"({_executor_words(workers)}; the first start migrates Airflow's database: about a minute)...")
            stack = AirflowStack(
                home=settings.airflow_home,
                metadata_db_url=postgres.ensure_database(METADATA_DATABASE).replace(
                    "postgresql://", "postgresql+psycopg2://", 1),
                dags_folders={"llf": settings.project / "dags"},
                extra_env=env,
                port=settings.port,
                detached=True,
                celery=self._celery(postgres, workers),
            )
            stack.start()
            self._write_state({"port": settings.port, "pids": stack.pids, "env": env, "workers": executor})
        return RunningStack(project=settings.project, control_db_url=control_db_url, base_url=settings.base_url,
                            lake=settings.lake, logs=settings.airflow_home / "logs-of-components", reused=reused,
                            llm_changed=llm_changed)

    @staticmethod
    def _celery(postgres: EmbeddedPostgres, workers: tuple[CeleryWorker, ...]) -> CeleryExecution | None:
        if not workers:
            return None
        backend = postgres.owned_database(RESULT_DATABASE, RESULT_LOGIN)
        return CeleryExecution("db+" + backend.replace("postgresql://", "postgresql+psycopg2://", 1), workers)

    def stop(self, say: Say) -> None:
        """Stop the Airflow components and PostgreSQL this folder's stack started; keep their data. Where no
        stack ever ran, say so: "data kept" would promise data that is not there."""
        if not self.settings.home.exists():
            say(f"Nothing to stop: no local stack in {self.settings.home} (LLF_LOCAL_DIR); `llf local up` "
                "starts one.")
            return
        state = self._read_state()
        stopped = False
        if self._stop_components(state):
            say("Airflow: stopped.")
            stopped = True
        if (self.settings.pgdata / "postmaster.pid").exists():
            EmbeddedPostgres(self.settings.pgdata, keep_running=True).stop()
            say("PostgreSQL: stopped.")
            stopped = True
        if not stopped:
            say("Nothing was running.")
        say(f"Data kept in {self.settings.home} (delete the folder to start from scratch).")

    def _note_llm(self, control_db_url: str, llm_env: Mapping[str, str], say: Say) -> bool:
        """Remember the LLM; when it differs from last time, drop the local vector collections: they hold
        vectors of the previous embedding model, which the new one cannot be compared with."""
        # the embedding model as the SDK resolves it (llama.cpp mode: a fixed local one, whatever LLF_EMBED_MODEL is)
        embedder = LlmSettings.from_env(provider=llm_env.get("LLF_LLM_PROVIDER") or None).embed_model
        identity = {**llm_env, "embed_model": embedder}
        previous = _read_json(self.settings.llm_file)
        self.settings.llm_file.write_text(json.dumps(identity, indent=2), encoding="utf-8")
        if not previous or previous == identity:
            return False
        _drop_vector_collections(control_db_url)
        say(f"The LLM changed since the last demo ({previous} -> {identity}): dropped the local vector "
            f"collections (tables of schema {VECTOR_SCHEMA}) built with the previous embedding model.")
        return True

    def _component_env(self, control_db_url: str, notebook_db_url: str, ui_db_url: str,
                       llm_env: Mapping[str, str]) -> dict[str, str]:
        """The Airflow components' settings: notebooks get the notebook login and the control-plane UI (in the
        api-server) the read-only UI login, never the superuser URL."""
        return {
            "LLF_CONTROL_DB_URL": control_db_url,
            "LLF_NOTEBOOK_DB_URL": notebook_db_url,
            "LLF_UI_DB_URL": ui_db_url,
            "LLF_NOTEBOOKS_DIR": str(self.settings.notebooks),
            "LLF_LAKE_URL": self.settings.lake.as_uri(),
            "LLF_SNAPSHOT_REFRESH_SECONDS": SNAPSHOT_REFRESH_SECONDS,
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.settings.project / "plugins"),
            **llm_env,
        }

    def _running(self, state: Mapping) -> bool:
        pids = state.get("pids") or {}
        return (state.get("port") == self.settings.port and bool(pids) and all(map(is_alive, pids.values()))
                and api_healthy(self.settings.base_url))

    def _stop_components(self, state: Mapping) -> bool:
        alive = [pid for pid in (state.get("pids") or {}).values() if is_alive(pid)]
        stop_components(alive)
        self.settings.state_file.unlink(missing_ok=True)
        return bool(alive)

    def _read_state(self) -> dict:
        return _read_json(self.settings.state_file)

    def _write_state(self, state: Mapping) -> None:
        """state.json holds the components' environment, the owner's DB URL among it: for root's eyes only."""
        self.settings.state_file.touch(mode=0o600)
        self.settings.state_file.chmod(0o600)
        self.settings.state_file.write_text(json.dumps(state, indent=2), encoding="utf-8")


def _close_to_kernels(settings: LocalSettings, say: Say) -> None:
    """Local mode's folder holds the components' environment (state.json), Airflow's home (its config, logs and
    llf's state) and the database: notebook kernels, running under their streams' own users
    (llf.runner.kernel_user), may only pass through it to the lake. Says what is not isolated when they cannot."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    settings.home.chmod(0o711)  # pass through (to the lake), never list
    settings.airflow_home.chmod(0o700)
    for private in (settings.state_file, settings.llm_file):
        if private.exists():
            private.chmod(0o600)
    from llf.runner.tasks import kernels_not_isolated  # the runner's imports (papermill) only when `up` runs

    if warning := kernels_not_isolated():
        say(warning)


def _executor_words(workers: tuple[CeleryWorker, ...]) -> str:
    if not workers:
        return "LocalExecutor"
    served = ", ".join(f"{worker.hostname} on {worker.queues}" for worker in workers)
    return f"CeleryExecutor with redis-server and {len(workers)} worker(s): {served}"


def _drop_vector_collections(control_db_url: str) -> None:
    """Drop every collection table and keep the schema: it carries the notebook role's rights (llf/control/sql/
    0025), and that role may create tables in it but not the schema itself."""
    with transaction(control_db_url) as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (VECTOR_SCHEMA,))
        for (table,) in cursor.fetchall():
            cursor.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(VECTOR_SCHEMA, table)))


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def _check_port_free(port: int, patience: float = PORT_PATIENCE_SEC) -> None:
    """Wait a little for the port: the components just stopped may still be closing their sockets.

    The probe binds as the api-server does (SO_REUSEADDR): connections the killed server closed linger in
    TIME-WAIT on its port for a minute, and a plain bind would call the port taken while uvicorn can use it."""
    deadline = time.monotonic() + patience
    while True:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
                return
            except OSError as error:
                if time.monotonic() >= deadline:
                    raise ConfigurationError(
                        f"Port {port} on 127.0.0.1 is taken ({error.strerror}): stop what uses it or set "
                        "LLF_LOCAL_PORT.") from error
        time.sleep(0.2)
