"""CeleryExecutor on one machine: a redis-server broker and `airflow celery worker` processes beside the
scheduler, as local mode (`llf local up --executor celery`) and the tests run them.

Each worker is what a worker on a host of its own would be: its own AIRFLOW_HOME (Airflow writes an
airflow.cfg there holding a generated Fernet key and JWT secret: a shared home would hand the stack's to the
workers), its own host name (llf.local.hostname) and log-server port, and an environment without the
metadata database URL, the Fernet key, the JWT secret or the API secret key. A task needs none of them:
the worker gets a token per task from the scheduler and speaks to the execution API. The one thing lost is
the api-server reading a *running* task's log from the worker's log server, whose requests are signed with
`[api] secret_key` (airflow/utils/serve_logs/log_server.py: `get_signing_key("api", "secret_key")`): here the
workers write into the stack's log folder instead, which the api-server reads from disk.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from llf.exceptions import ConfigurationError
from llf.local.hostname import HOSTNAME_CALLABLE, WORKER_HOSTNAME_ENV
from llf.local.private_files import write_private

REDIS_SERVER = "redis-server"
# What the workers must not hold (issue 25): a notebook could read them from its worker's environment.
WORKER_SECRETS = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API__SECRET_KEY",
)
# The runner preloaded in each worker, the Celery counterpart of LocalExecutor's forkserver preload: Celery
# imports `imports` in the worker's parent before its prefork pool forks, and each task's supervisor forks from a
# pool child, so a task starts with papermill, nbconvert and the HTML exporter in memory. The same setting as
# docker-compose.yml's workers (one mechanism, llf.runner.preload, for both executors).
WORKER_PRELOAD = '{"imports": ["llf.runner.preload"]}'


@dataclass(frozen=True)
class CeleryWorker:
    """One `airflow celery worker`: the queues it serves (comma-separated), its task slots, its host name."""

    hostname: str
    queues: str = "default"
    concurrency: int = 4


@dataclass(frozen=True)
class CeleryExecution:
    """The Celery side of a stack: where results go and which workers run the tasks.

    `result_backend_url`: an SQLAlchemy URL (`db+postgresql://...`) of a database whose login is not the
    metadata database's owner; the workers hold it, so it opens nothing but the task results.
    """

    result_backend_url: str
    workers: tuple[CeleryWorker, ...]
    preload: bool = True  # the runner preloaded in each worker (WORKER_PRELOAD); off only to measure it


def parse_workers(specs: list[str], concurrency: int = 4) -> tuple[CeleryWorker, ...]:
    """`--worker default --worker default,llm` as workers named llf-worker-1, llf-worker-2, ...

    A spec is the comma-separated queues the worker serves; none at all means one worker on `default`.
    """
    specs = specs or ["default"]
    workers = []
    for index, spec in enumerate(specs, start=1):
        queues = ",".join(name.strip() for name in spec.split(",") if name.strip())
        if not queues:
            raise ConfigurationError(f"--worker {spec!r} names no queue: give the queues it serves, e.g. default,llm")
        workers.append(CeleryWorker(hostname=f"llf-worker-{index}", queues=queues, concurrency=concurrency))
    return tuple(workers)


def redis_server_path() -> str:
    """Debian's redis-server, or a sentence naming what installs it."""
    path = shutil.which(REDIS_SERVER)
    if path is None:
        raise ConfigurationError(
            "The Celery executor needs a broker and redis-server is not installed: run `make redis` "
            "(Debian's redis-server, apt-get) or install it yourself, or use the default LocalExecutor.")
    return path


def broker_password() -> str:
    """A new password for a stack's broker: without one, any local user (a notebook kernel under its stream's own
    OS user among them) could read and write Celery's messages, the task commands and their tokens included."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class RedisBroker:
    """A throwaway broker: loopback only, behind a password, no snapshot, no append-only file (queued work dies
    with the stack, as the tasks' state lives in Airflow's database), its files in a folder of its own.

    The password reaches redis-server in a config file only its owner reads, never on the command line: every
    user of the machine reads a process's argv in /proc/<pid>/cmdline."""

    port: int
    folder: Path
    password: str = field(default_factory=broker_password, repr=False)

    @property
    def url(self) -> str:
        """Celery's broker URL, the password in it: for the components' environment only, never printed."""
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"

    @property
    def config_file(self) -> Path:
        return self.folder / "redis.conf"

    def command(self) -> list[str]:
        """redis-server on the broker's config file, written (owner-only) first."""
        self.folder.mkdir(parents=True, exist_ok=True)
        settings = {"port": str(self.port), "bind": "127.0.0.1", "protected-mode": "yes", "save": "",
                    "appendonly": "no", "dir": str(self.folder), "daemonize": "no", "requirepass": self.password}
        write_private(self.config_file, "".join(f"{key} {_config_value(value)}\n" for key, value in settings.items()))
        return [redis_server_path(), str(self.config_file)]


def _config_value(value: str) -> str:
    """A value as redis.conf reads it: double-quoted, its backslashes and quotes escaped (a folder may hold
    spaces; an empty value is `save ""`, no snapshots)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'




def celery_settings(broker_url: str, result_backend_url: str) -> dict[str, str]:
    """The AIRFLOW__* settings every component of a Celery stack shares.

    [core] parallelism back at Airflow's default (32; LocalExecutor's is the processes it forks): on Celery it
    caps the tasks handed to the broker, and above the workers' slots the next ready task already waits on the
    broker when a slot frees, rather than leaving the scheduler a loop later (bench/throughput.py: 1.94x on
    two workers at 1 slot each with every ready task queued, 1.69x with parallelism at the slots).
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "32",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend_url,
    }


def worker_environment(stack_env: Mapping[str, str], worker: CeleryWorker, home: Path, logs_folder: Path,
                       log_port: int, *, preload: bool = True) -> dict[str, str]:
    """The stack's environment without its secrets, with the worker's own home, name and log port."""
    env = {name: value for name, value in stack_env.items() if name not in WORKER_SECRETS}
    env.update({
        "AIRFLOW_HOME": str(home),
        WORKER_HOSTNAME_ENV: worker.hostname,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs_folder),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
        # the worker's helper processes (log server) by plain fork: the stack's forkserver would preload the
        # runner into each of them too, for nothing
        "AIRFLOW__CELERY__MP_START_METHOD": "fork",
    })
    if preload:
        env["AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"] = WORKER_PRELOAD
    return env


def worker_arguments(worker: CeleryWorker) -> list[str]:
    """`airflow celery worker` serving the worker's queues, its Celery node named after its host name."""
    return ["celery", "worker", "--queues", worker.queues, "--concurrency", str(worker.concurrency),
            "--celery-hostname", worker.hostname, "--without-mingle", "--without-gossip"]
