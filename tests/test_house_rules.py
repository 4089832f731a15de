"""The house rules bite: `make lint` (ruff, lint-imports, mypy; CI runs it before `make test`) refuses a planted
violation of each, naming where it is, and passes on the clean tree.

Each planted case runs the real tool on a copy of llf/ and pyproject.toml with one module added, so the
tree under test is never touched. The clean-tree import contracts are tests/test_layering.py's first test.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PLANTED = "llf/control/planted.py"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of llf/ and its configuration (~100 small files: a few milliseconds)."""
    shutil.copytree(ROOT / "llf", tmp_path / "llf", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(tree: Path, source: str) -> None:
    (tree / PLANTED).write_text(textwrap.dedent(source).lstrip())


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH: the copy's llf, not the one installed in the venv, for lint-imports (grimp imports it).
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(cwd)})


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # In a process of its own (see tests/test_layering.py), with the copy first on the path.
    return _run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                 "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"], cwd)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the planted checks: the second reuses the types of pydantic and the standard library."""
    return tmp_path_factory.mktemp("mypy_cache")


def _mypy(cwd: Path, cache: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    # One module with the project's configuration: its imports are read for their types, not checked, so this
    # takes seconds where all of llf/ from a cold cache takes half a minute.
    return _run([str(BIN / "mypy"), "--follow-imports=silent", "--cache-dir", str(cache), *targets], cwd)


def test_given_a_broad_except_without_a_reason_when_ruff_checks_then_it_fails_naming_the_file(tree: Path):
    _plant(tree, """
        def parsed(text: str) -> int | None:
            try:
                return int(text)
            except Exception:
                return None
    """)

    ruff = _run([str(BIN / "ruff"), "check", "llf", "--output-format", "concise"], tree)

    assert ruff.returncode == 1, ruff.stdout + ruff.stderr
    assert f"{PLANTED}:4:12: BLE001" in ruff.stdout, ruff.stdout


def test_given_an_upward_import_in_control_when_imports_are_linted_then_the_layers_contract_fails(tree: Path):
    _plant(tree, """
        from llf.runner import tasks

        RUN = tasks.run_process
    """)

    lint = _lint_imports(tree)

    assert lint.returncode == 1, lint.stdout + lint.stderr
    assert "llf imports go downward only BROKEN" in lint.stdout, lint.stdout
    assert "llf.control.planted -> llf.runner" in lint.stdout, lint.stdout


def test_given_an_airflow_import_in_control_when_imports_are_linted_then_the_forbidden_contract_fails(tree: Path):
    _plant(tree, """
        def connection_of(conn_id: str) -> object:
            from airflow.hooks.base import BaseHook

            return BaseHook.get_connection(conn_id)
    """)

    lint = _lint_imports(tree)

    assert lint.returncode == 1, lint.stdout + lint.stderr
    assert "no airflow import in context, db, control, services or runner BROKEN" in lint.stdout, lint.stdout
    assert "llf.control.planted -> airflow" in lint.stdout, lint.stdout
    assert "llf imports go downward only KEPT" in lint.stdout, lint.stdout


def test_given_a_wrong_argument_type_and_a_none_for_a_str_when_mypy_checks_then_it_fails_naming_both(
        tree: Path, mypy_cache: Path):
    _plant(tree, """
        from llf.control.model import process_dag_id, stream_dag_id


        def dag_ids(strem_nm: str | None, prcs_id: int) -> list[str]:
            return [stream_dag_id(strem_nm), process_dag_id(prcs_id)]
    """)

    mypy = _mypy(tree, mypy_cache, PLANTED)

    assert mypy.returncode == 1, mypy.stdout + mypy.stderr
    errors = re.findall(r"^(\S+:\d+): error: .*\[(\S+)\]$", mypy.stdout, re.MULTILINE)
    assert errors == [(f"{PLANTED}:5", "arg-type"), (f"{PLANTED}:5", "arg-type")], mypy.stdout
    assert '"str | None"; expected "str"' in mypy.stdout and '"int"; expected "str"' in mypy.stdout, mypy.stdout


def test_given_the_planted_module_well_typed_when_mypy_checks_it_alone_then_it_passes(tree: Path, mypy_cache: Path):
    """The check above fails for the planted mistakes, not for how it runs mypy."""
    _plant(tree, """
        from llf.control.model import process_dag_id, stream_dag_id


        def dag_ids(strem_nm: str, prcs_nm: str) -> list[str]:
            return [stream_dag_id(strem_nm), process_dag_id(prcs_nm)]
    """)

    mypy = _mypy(tree, mypy_cache, PLANTED)

    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


@pytest.mark.parametrize("command", [
    ["ruff", "check", "llf", "tests", "dags", "bench", "scripts"],
    ["mypy"],  # all of llf/ ([tool.mypy] files); its cache in .mypy_cache, warm after `make lint`
], ids=["ruff", "mypy"])
def test_given_the_clean_tree_when_linted_as_make_lint_does_then_it_passes(command: list[str]):
    lint = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)

    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_given_llf_when_its_broad_guards_are_read_then_each_noqa_says_why_broad_is_right():
    """ruff accepts any `# noqa: BLE001`; the house rule wants the reason after it (`- <why>`)."""
    bare = [
        f"{path.relative_to(ROOT)}:{token.start[0]}"
        for folder in ("llf", "tests", "dags", "bench", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        if token.type == tokenize.COMMENT and re.search(r"noqa:[^#]*\bBLE001\b(?!\s+-\s+\S)", token.string)
    ]
    assert not bare, bare
