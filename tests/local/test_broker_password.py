"""Celery's broker in local mode and the test stacks (issue 26): a real redis-server behind a password of its
stack's own, which reaches it in an owner-only config file, never on a command line every user can read in
/proc, and reaches Celery only inside the broker URL the components' environment holds."""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from llf.local.airflow import AirflowStack, free_port
from llf.local.celery import RedisBroker
from llf.secrets import redact


def _command_lines() -> list[bytes]:
    """Every process's argv as /proc shows it to any user."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes())
        except OSError:  # gone meanwhile
            continue
    return lines


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisBroker]:
    """A real redis-server started as local mode starts it, in a folder with a space in its name."""
    broker = RedisBroker(free_port(), tmp_path / "stack home" / "redis")
    server = subprocess.Popen(broker.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not _answers(broker.port):
            assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield broker
    finally:
        server.terminate()
        server.wait(timeout=20)


def _answers(port: int) -> bool:
    try:
        redis.Redis(port=port, socket_timeout=1).ping()
    except redis.exceptions.AuthenticationError:  # NOAUTH: up, asking for the password (a ConnectionError too)
        return True
    except redis.exceptions.ConnectionError:
        return False
    return True


def test_given_the_local_broker_when_a_client_without_the_password_connects_then_it_is_refused(
    broker: RedisBroker,
) -> None:
    anonymous = redis.Redis(port=broker.port, socket_timeout=5)

    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.lpush("default", "a forged task command")
    assert redis.Redis.from_url(broker.url, socket_timeout=5).ping() is True


def test_given_the_local_broker_then_its_password_is_on_no_command_line_and_in_an_owner_only_file(
    broker: RedisBroker,
) -> None:
    secret = broker.password.encode()

    assert [line for line in _command_lines() if secret in line] == []
    assert stat.S_IMODE(broker.config_file.stat().st_mode) == 0o600
    assert broker.password not in repr(broker)


def test_given_a_broker_url_when_redacted_then_the_password_is_gone(broker: RedisBroker) -> None:
    shown = redact(broker.url)

    assert broker.password not in shown
    assert f"127.0.0.1:{broker.port}" in shown


def test_given_two_stacks_then_each_broker_has_a_password_of_its_own_kept_out_of_the_stacks_repr(
    tmp_path: Path,
) -> None:
    first, second = (AirflowStack(home=tmp_path / name, metadata_db_url="postgresql://x", dags_folders={})
                     for name in ("one", "two"))

    assert first.redis_password != second.redis_password and len(first.redis_password) >= 32
    assert first.redis_password not in repr(first)
    assert first.broker.url.startswith("redis://:") and first.broker.url.endswith(f"@127.0.0.1:{first.redis_port}/0")
