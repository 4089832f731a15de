"""Fixtures for the deploy tests: the compose model rendered by the real compose binary from a .env
that is a plain copy of .env.example, as a new user makes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.deploy.stack import COMPOSE_FILE, ENV_EXAMPLE, compose


@pytest.fixture(scope="session")
def example_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .env that is a plain copy of .env.example, as a new user makes it."""
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text(ENV_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def rendered(example_env_file: Path) -> dict:
    """The compose model as the binary resolves it, every profile enabled."""
    result = compose(example_env_file, "--profile", "*", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def services(rendered: dict) -> dict[str, dict]:
    return rendered["services"]


@pytest.fixture(scope="session")
def raw_compose() -> dict:
    """docker-compose.yml as written (anchors merged, nothing interpolated)."""
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))

