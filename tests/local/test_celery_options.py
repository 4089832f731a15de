"""Local mode's Celery options: the workers `--worker` names, what a missing redis-server says, what a worker's
environment holds (none of the stack's secrets), and the host name each worker reports to Airflow."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from llf.cli import main
from llf.exceptions import ConfigurationError
from llf.local.celery import WORKER_SECRETS, CeleryWorker, parse_workers, worker_environment
from llf.local.hostname import WORKER_HOSTNAME_ENV, worker_hostname
from llf.local.stack import LocalSettings, LocalStack


def test_given_worker_options_when_parsed_then_one_named_worker_per_option_serving_its_queues() -> None:
    workers = parse_workers(["default", " default, llm "], concurrency=3)

    assert workers == (CeleryWorker("llf-worker-1", "default", 3), CeleryWorker("llf-worker-2", "default,llm", 3))
    assert parse_workers([]) == (CeleryWorker("llf-worker-1", "default", 4),)
    with pytest.raises(ConfigurationError, match="names no queue"):
        parse_workers([" , "])


def test_given_no_redis_server_when_local_mode_starts_with_celery_then_a_sentence_names_make_redis_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    home = tmp_path / "local"

    with pytest.raises(ConfigurationError) as refused:
        LocalStack(LocalSettings(home=home, port=1)).up({}, say=print, workers=parse_workers(["default"]))

    assert "redis-server is not installed: run `make redis`" in str(refused.value)
    assert not home.exists()  # nothing started, nothing written


def test_given_worker_without_executor_celery_when_local_up_then_exit_2_saying_to_add_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["local", "up", "--worker", "llm"]) == 2
    assert "add --executor celery" in capsys.readouterr().out


def test_given_the_stack_environment_when_a_worker_environment_is_made_then_it_holds_none_of_the_secrets(
    tmp_path: Path,
) -> None:
    stack_env = {name: "secret" for name in WORKER_SECRETS} | {"LLF_CONTROL_DB_URL": "postgresql://x"}

    env = worker_environment(stack_env, CeleryWorker("llf-w-1", "llm"), tmp_path / "w1", tmp_path / "logs", 8799)

    assert not set(WORKER_SECRETS) & set(env)
    assert env["LLF_CONTROL_DB_URL"] == "postgresql://x"  # what a task needs stays
    assert (env["AIRFLOW_HOME"], env[WORKER_HOSTNAME_ENV]) == (str(tmp_path / "w1"), "llf-w-1")
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "8799"


def test_given_a_worker_name_in_the_environment_when_airflow_asks_the_hostname_then_it_gets_that_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(WORKER_HOSTNAME_ENV, "llf-w-1")
    assert worker_hostname() == "llf-w-1"
    monkeypatch.delenv(WORKER_HOSTNAME_ENV)
    assert worker_hostname() == socket.getfqdn()
