"""`llf local up --executor celery` for real: redis-server and one `airflow celery worker` per `--worker`,
detached like the rest of local mode, reused by the same command, and gone after `llf local stop`; its broker
refuses a client without the stack's password, which no command line, printed line or log shows (issue 26)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from llf.local.airflow import free_port, is_alive

pytestmark = pytest.mark.e2e
CELERY_UP = ("up", "--executor", "celery", "--worker", "default", "--worker", "llm")


def llf_local(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llf.cli", "local", *arguments], env=env, text=True,
                          capture_output=True, timeout=400, check=False)


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A local folder and port of the module's own; no LLM is asked anything (nothing runs a notebook)."""
    env = {**os.environ, "LLF_LOCAL_DIR": str(tmp_path_factory.mktemp("local-celery")),
           "LLF_LOCAL_PORT": str(free_port()), "LLF_LLM_PROVIDER": "ollama", "OLLAMA_HOST": "http://127.0.0.1:9"}
    env.pop("LLF_CONTROL_DB_URL", None)
    yield env
    llf_local("stop", env=env)


@pytest.fixture(scope="module")
def celery_up(local_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return llf_local(*CELERY_UP, env=local_env)


def _state(env: dict[str, str]) -> dict:
    return json.loads((Path(env["LLF_LOCAL_DIR"]) / "state.json").read_text())


def test_given_two_worker_options_when_local_mode_starts_on_celery_then_redis_and_a_worker_per_option_run(
    celery_up: subprocess.CompletedProcess[str], local_env: dict[str, str]
) -> None:
    assert celery_up.returncode == 0, celery_up.stdout[-3000:] + celery_up.stderr[-3000:]
    assert "CeleryExecutor with redis-server and 2 worker(s): llf-worker-1 on default, llf-worker-2 on llm" in (
        " ".join(celery_up.stdout.split()))
    state = _state(local_env)
    assert set(state["pids"]) >= {"redis", "worker-llf-worker-1", "worker-llf-worker-2", "scheduler"}
    assert all(map(is_alive, state["pids"].values()))
    assert [(worker["hostname"], worker["queues"]) for worker in state["workers"]] == [
        ("llf-worker-1", "default"), ("llf-worker-2", "llm")]


def test_given_the_celery_stack_runs_when_the_same_command_runs_again_then_it_is_reused(
    celery_up: subprocess.CompletedProcess[str], local_env: dict[str, str]
) -> None:
    pids_before = _state(local_env)["pids"]

    again = llf_local(*CELERY_UP, env=local_env)

    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout and _state(local_env)["pids"] == pids_before


def _broker_config(env: dict[str, str]) -> dict[str, str]:
    """The stack's redis.conf (owner-only: the test runs as the stack's owner), `key "value"` per line."""
    config = Path(env["LLF_LOCAL_DIR"]) / "airflow" / "redis" / "redis.conf"
    return dict(shlex.split(line) for line in config.read_text().splitlines() if line.strip())


def test_given_the_celery_stack_runs_when_a_client_without_the_password_connects_then_the_broker_refuses_it(
    celery_up: subprocess.CompletedProcess[str], local_env: dict[str, str]
) -> None:
    config = _broker_config(local_env)
    port = int(config["port"])

    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=port, socket_timeout=5).ping()
    assert redis.Redis(port=port, password=config["requirepass"], socket_timeout=5).ping() is True


def test_given_the_celery_stack_runs_then_its_broker_password_is_on_no_command_line_printed_line_or_log(
    celery_up: subprocess.CompletedProcess[str], local_env: dict[str, str]
) -> None:
    secret = _broker_config(local_env)["requirepass"]
    home = Path(local_env["LLF_LOCAL_DIR"])
    command_lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command_lines.append(cmdline.read_bytes())
        except OSError:  # gone meanwhile
            continue
    logs = [path for path in (home / "airflow" / "logs-of-components").glob("*.log")]

    assert [line for line in command_lines if secret.encode() in line] == []
    assert secret not in celery_up.stdout + celery_up.stderr
    assert secret not in (home / "state.json").read_text()
    assert logs and [log.name for log in logs if secret in log.read_text(errors="replace")] == []


def test_given_the_celery_stack_runs_when_stopped_then_no_worker_broker_or_component_is_left(
    celery_up: subprocess.CompletedProcess[str], local_env: dict[str, str]
) -> None:
    pids = _state(local_env)["pids"]

    stopped = llf_local("stop", env=local_env)

    assert stopped.returncode == 0, stopped.stderr
    assert not any(map(is_alive, pids.values()))
