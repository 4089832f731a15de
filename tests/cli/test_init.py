"""`llf init PATH`: a project scaffold a data engineer starts from, refused over a folder that has files in it,
and one `llf sync` and `llf validate` accept as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from llf.cli import main
from llf.control.declared import load
from tests.support.cli import one_line_error

SCAFFOLD = [
    ".env.example", ".gitignore", "README.md", "dags/llf_dags.py", "llf.toml",
    "notebooks/quickstart/extract.ipynb", "notebooks/quickstart/publish.ipynb",
    "notebooks/quickstart/transform.ipynb", "registrations/quickstart.yaml",
]


def _tree(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_given_a_new_folder_when_init_then_it_holds_the_project_and_says_what_to_run_next(tmp_path, capsys) -> None:
    project = tmp_path / "demo-project"

    assert main(["init", str(project)]) == 0

    assert _tree(project) == SCAFFOLD
    out = capsys.readouterr().out
    assert f"Made an llf project in {project}" in out and f"cd {project} && llf local demo" in out
    assert (project / "dags" / "llf_dags.py").read_text() == (Path("dags") / "llf_dags.py").read_text()


def test_given_the_scaffold_then_its_stream_file_names_only_its_own_notebooks(tmp_path) -> None:
    main(["init", str(tmp_path / "p")])

    stream = load(tmp_path / "p" / "registrations" / "quickstart.yaml").stream

    notebooks = {process.notebook for _, process in stream.processes()}
    assert stream.stream == "quickstart"
    assert all((tmp_path / "p" / "notebooks" / notebook).is_file() for notebook in notebooks), notebooks


def test_given_the_scaffold_when_synced_then_validate_finds_nothing_to_fix(tmp_path, control_db_url, monkeypatch,
                                                                          capsys) -> None:
    project = tmp_path / "p"
    main(["init", str(project)])
    monkeypatch.chdir(project / "notebooks")  # any folder of the project: the project is found above it
    monkeypatch.delenv("LLF_NOTEBOOKS_DIR", raising=False)

    synced = main(["sync", str(project / "registrations" / "quickstart.yaml")])
    validated = main(["validate"])

    assert (synced, validated) == (0, 0), capsys.readouterr()


@pytest.mark.parametrize("existing", ["notes.txt", ".git/HEAD"])
def test_given_a_folder_with_files_when_init_then_it_is_refused_in_one_line_and_nothing_is_written(
    tmp_path, capsys, existing: str
) -> None:
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_text("mine")

    assert main(["init", str(tmp_path)]) == 2

    error = one_line_error(capsys)
    assert "is not empty" in error and "--force" in error
    assert not (tmp_path / "llf.toml").exists()


def test_given_a_folder_with_files_when_init_with_force_then_the_project_is_added_and_other_files_stay(
    tmp_path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    assert main(["init", str(tmp_path), "--force"]) == 0

    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "llf.toml").is_file()


def test_given_a_file_when_init_then_it_is_refused(tmp_path, capsys) -> None:
    (tmp_path / "f").write_text("x")

    assert main(["init", str(tmp_path / "f")]) == 2

    assert "is a file" in one_line_error(capsys)
