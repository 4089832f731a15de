"""DAG-building scenarios: each folder under scenarios/ holds registration.sql and its notebooks/.

Every test parses the real dags/ folder with Airflow's DagBag, against a fresh control database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from llf.settings import PROJECT_ROOT

SCENARIOS = Path(__file__).parent / "scenarios"
DAGS_FOLDER = PROJECT_ROOT / "dags"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private snapshot cache per test; refresh on every parse unless a test says otherwise."""
    folder = tmp_path / "state"
    monkeypatch.setenv("LLF_STATE_DIR", str(folder))
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_SECONDS", "0")
    return folder


@pytest.fixture
def scenario(sql, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Register a scenario the way users do (its SQL file) and point LLF_NOTEBOOKS_DIR at its notebooks."""

    def apply(name: str) -> None:
        folder = SCENARIOS / name
        sql((folder / "registration.sql").read_text(encoding="utf-8"))
        monkeypatch.setenv("LLF_NOTEBOOKS_DIR", str(folder / "notebooks"))

    return apply


@pytest.fixture
def dagbag() -> Callable[[], object]:
    """Parse dags/ the way the dag-processor does."""
    from airflow.dag_processing.dagbag import DagBag

    return lambda: DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=True)
