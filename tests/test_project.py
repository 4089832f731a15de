"""The project folder, found once (llf.settings.project_dir): `--project`, else LLF_PROJECT_DIR, else the current
folder or the nearest one above it holding llf.toml; outside any, one error naming `llf init` and `--project`.
Local mode's defaults (notebooks, lake, .llf-local) all derive from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from llf.cli import main
from llf.exceptions import ConfigurationError
from llf.local.stack import LocalSettings
from llf.services.lake import open_lake
from llf.settings import PROJECT_ROOT, local_dir, notebooks_dir, project_dir
from tests.support.cli import one_line_error


@pytest.fixture
def no_project_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLF_PROJECT_DIR", "LLF_NOTEBOOKS_DIR", "LLF_LOCAL_DIR", "LLF_LAKE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    assert main(["init", str(tmp_path / "project")]) == 0
    return tmp_path / "project"


def test_given_the_checkout_then_it_is_a_project_with_its_notebooks(no_project_settings, monkeypatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)

    assert project_dir() == PROJECT_ROOT and notebooks_dir() == PROJECT_ROOT / "notebooks"


def test_given_a_folder_below_a_project_then_every_default_is_the_projects(no_project_settings, project,
                                                                          monkeypatch) -> None:
    monkeypatch.chdir(project / "notebooks" / "quickstart")

    settings = LocalSettings.from_env()

    assert project_dir() == project.resolve()
    assert notebooks_dir() == settings.notebooks == project.resolve() / "notebooks"
    assert local_dir() == settings.home == project.resolve() / ".llf-local"
    assert open_lake().location("x") == (project.resolve() / "lake" / "x").as_uri()


def test_given_llf_project_dir_then_it_wins_over_the_current_folder(no_project_settings, project,
                                                                    monkeypatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setenv("LLF_PROJECT_DIR", str(project))

    assert project_dir() == project.resolve()


def test_given_no_project_then_the_error_names_llf_init_and_the_option(no_project_settings, tmp_path,
                                                                       monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigurationError, match=r"not in an llf project .*`llf init PATH`.*--project PATH"):
        project_dir()


def test_given_project_option_on_a_folder_without_marker_then_local_mode_refuses_in_one_line(
    no_project_settings, tmp_path, capsys
) -> None:
    assert main(["local", "stop", "--project", str(tmp_path)]) == 2

    error = one_line_error(capsys)
    assert f"{tmp_path} (LLF_PROJECT_DIR or --project) is not an llf project" in error and "llf init" in error


def test_given_project_option_then_local_mode_stops_that_projects_stack(no_project_settings, project, tmp_path,
                                                                        monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["local", "stop", "--project", str(project)]) == 0

    assert f"no local stack in {project.resolve() / '.llf-local'}" in capsys.readouterr().out
