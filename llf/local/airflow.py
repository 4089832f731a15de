"""A real Apache Airflow 3 for local mode and end-to-end tests: its four components as subprocesses (what
the stack says of itself it reads through `llf.airflow_api`, the REST client).

`airflow standalone` would hide the components' logs and settings; starting scheduler, dag-processor,
triggerer and api-server ourselves lets us tune every polling interval for speed, keep one log file per
component (printed when something fails) and stop them all reliably by process group.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from llf.airflow_api import AirflowClient, api_healthy, heartbeats_since, poll
from llf.exceptions import LlfError
from llf.local.celery import (
    CeleryExecution,
    RedisBroker,
    broker_password,
    celery_settings,
    worker_arguments,
    worker_environment,
)

COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
TASK_INSTANCE_HEARTBEAT_TIMEOUT_SEC = 15
# Bytecode for every Airflow process, kept outside the venv: with PYTHONDONTWRITEBYTECODE and no .pyc in
# the venv, each component and each task process would compile Airflow from source (3x slower start).
BYTECODE_CACHE = Path(tempfile.gettempdir()) / "llf-e2e-pycache"
_PR_SET_PDEATHSIG = 1
_GONE_TIMEOUT_SEC = 15


class AirflowStackError(LlfError):
    """The stack did not come up, or did not reach the awaited state in time (the message has its logs)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: SIGTERM the component when pytest dies, so a killed session leaves no Airflow behind."""
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class AirflowStack:
    """Scheduler, dag-processor, triggerer and api-server on one metadata database: LocalExecutor, or with
    `celery` CeleryExecutor with a redis-server broker and its `airflow celery worker`s (llf.local.celery).

    Every DAG folder becomes its own LocalDagBundle, so harness DAGs and the project's `dags/` can be
    served side by side. A `detached` stack outlives the process that started it (local mode: `make demo`
    returns while the UI stays up); otherwise the components die with it (tests: nothing left behind).
    """

    home: Path
    metadata_db_url: str
    dags_folders: Mapping[str, Path]
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    detached: bool = False
    celery: CeleryExecution | None = None
    redis_port: int = field(default_factory=free_port)
    # the broker's password, new for each stack (a revived component reuses the stack's commands, so this one)
    redis_password: str = field(default_factory=broker_password, repr=False)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict, init=False)
    # component -> (command, environment), kept: a revived component needs the same secrets
    _commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs-of-components"

    @property
    def broker(self) -> RedisBroker:
        """The Celery stack's redis-server, in the stack's home (its config file holds the password)."""
        return RedisBroker(self.redis_port, self.home / "redis", self.redis_password)

    @property
    def worker_names(self) -> list[str]:
        """The component names of the Celery workers (none under LocalExecutor)."""
        return [f"worker-{worker.hostname}" for worker in (self.celery.workers if self.celery else ())]

    def environment(self) -> dict[str, str]:
        """AIRFLOW__* settings tuned so that a trivial DAG run takes seconds, not a minute."""
        bundles = [
            {
                "name": name,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(folder), "refresh_interval": 2},
            }
            for name, folder in self.dags_folders.items()
        ]
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_db_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(next(iter(self.dags_folders.values()))),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__CORE__PARALLELISM": "8",  # LocalExecutor forks this many workers up front
            # Workers start from a forkserver that loaded the runner, so tasks don't (llf.runner.preload).
            "AIRFLOW__CORE__MP_START_METHOD": "forkserver",
            "AIRFLOW__CORE__MP_FORKSERVER_PRELOAD": "llf.runner.preload",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "2",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_INSTANCE_HEARTBEAT_TIMEOUT_SEC),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "3",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONPYCACHEPREFIX": str(BYTECODE_CACHE),
        }
        if self.celery is not None:
            settings.update(celery_settings(self.broker.url, self.celery.result_backend_url))
        inherited = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
        return {**inherited, **settings, **self.extra_env}

    def start(self, timeout: float = 180) -> None:
        """Migrate the metadata DB, start the components and wait until the API reports all healthy."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        env = self.environment()
        migrate_log = self.logs_dir / "db-migrate.log"
        with migrate_log.open("w") as out:
            migrated = subprocess.run(
                self._airflow("db", "migrate"),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if migrated.returncode != 0:
            raise AirflowStackError(f"`airflow db migrate` failed:\n{migrate_log.read_text()[-4000:]}")
        self._commands = {name: (self._airflow(name), env) for name in COMPONENTS}
        self._commands.update(self._celery_commands(env))
        for name in self._commands:
            self._launch(name, mode="w")
        if poll(self._healthy, timeout) is None:
            self.stop()
            raise AirflowStackError(f"Airflow not healthy after {timeout:.0f}s\n{self.logs_tail()}")

    def _celery_commands(self, env: Mapping[str, str]) -> dict[str, tuple[list[str], dict[str, str]]]:
        """The broker and one `airflow celery worker` per worker, each worker in a home of its own."""
        if self.celery is None:
            return {}
        commands = {"redis": (self.broker.command(), dict(env))}
        for name, worker in zip(self.worker_names, self.celery.workers, strict=True):
            home = self.home / "workers" / worker.hostname
            home.mkdir(parents=True, exist_ok=True)
            worker_env = worker_environment(env, worker, home, self.home / "logs", free_port(),
                                            preload=self.celery.preload)
            commands[name] = (self._airflow(*worker_arguments(worker)), worker_env)
        return commands

    def _launch(self, name: str, mode: str) -> None:
        command, env = self._commands[name]
        with (self.logs_dir / f"{name}.log").open(mode) as out:
            self.processes[name] = subprocess.Popen(
                command,
                env=env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=os.setsid if self.detached else _die_with_parent,
            )

    def revive(self, since: dt.datetime, timeout: float = 180) -> list[str]:
        """Start again the components that exited, with the stack's settings, until each has heartbeated
        since `since`; return the names of those started again.

        Airflow's scheduler, dag-processor and triggerer exit on a database error in their loop and count
        on a supervisor to start them again (docker-compose: restart unless-stopped); this is that
        supervisor, for drills that take the database away. A heartbeat since the outage tells a survivor
        from a component still exiting (a scheduler first waits for its running tasks).
        """
        revived: list[str] = []

        def back() -> bool | None:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self._launch(name, mode="a")
                    revived.append(name)
            return True if heartbeats_since(self.base_url, since) else None

        if poll(back, timeout, interval=1) is None:
            raise AirflowStackError(f"Airflow not back {timeout:.0f}s after {since} (revived {revived})\n"
                                    f"{self.logs_tail()}")
        return revived

    def _airflow(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *arguments]

    def _healthy(self) -> bool | None:
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise AirflowStackError(f"Airflow components exited early: {dead}\n{self.logs_tail()}")
        return True if api_healthy(self.base_url) and all(map(self._worker_ready, self.worker_names)) else None

    def _worker_ready(self, name: str) -> bool:
        """Celery logs `<node> ready.` once the worker consumes its queues."""
        log = self.logs_dir / f"{name}.log"
        return log.exists() and " ready." in log.read_text(errors="replace")

    def logs_tail(self, lines: int = 40) -> str:
        """The last lines of each component's log, for failure reports."""
        parts = []
        for log in sorted(self.logs_dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"----- {log.name} (last {len(tail)} lines) -----\n" + "\n".join(tail))
        return "\n".join(parts)

    @property
    def pids(self) -> dict[str, int]:
        """Component -> process id (= its process group id), what a later `stop_components` needs."""
        return {name: process.pid for name, process in self.processes.items()}

    def stop(self, grace: float = 5) -> None:
        """SIGTERM every component's process group, then SIGKILL what is still alive after `grace`."""
        stop_components(self.pids.values(), grace)
        for process in self.processes.values():
            process.wait()
        self.processes.clear()

    def client(self) -> AirflowClient:
        return AirflowClient(self.base_url)


def is_alive(pid: int) -> bool:
    """A zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_components(group_ids: Iterable[int], grace: float = 5) -> None:
    """SIGTERM each process group, wait up to `grace` seconds for its leader, then SIGKILL the group (which
    also reaps task runners left in it) and every process it had started. Works on groups started by another
    process (`make stop`).

    The descendants are named before the first signal: Airflow's task supervisor puts each task process in a
    process group of its own (`setpgid`), which a signal to the component's group misses, and a task whose
    worker died would otherwise run its notebook to the end and record it."""
    groups = list(group_ids)
    descendants = [child for group in groups for child in descendants_of(group)]
    for group in groups:
        _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(map(is_alive, groups)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for group in groups:
        _signal_group(group, signal.SIGKILL)
    for child in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    _await_gone([*groups, *(child.pid for child in descendants)], timeout=_GONE_TIMEOUT_SEC)


def _await_gone(pids: list[int], timeout: float) -> None:
    """A SIGKILL is delivered, not awaited: on a loaded host a killed api-server can hold its port for a moment
    after `kill` returns, and a restart right after (`llf local up` with another LLM) would find it taken."""
    deadline = time.monotonic() + timeout
    while any(map(is_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)


def descendants_of(pid: int) -> list[psutil.Process]:
    """Every process `pid` started, and theirs, alive now (none when it is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started, at once: what a worker host's sudden death does."""
    processes = [*descendants_of(pid)]
    with contextlib.suppress(psutil.NoSuchProcess):
        processes.insert(0, psutil.Process(pid))
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)
