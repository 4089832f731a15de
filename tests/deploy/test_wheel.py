"""The wheel is what a project needs: installed into a fresh virtualenv outside the checkout (tests.support.wheel),
`llf db upgrade` creates the control tables, `llf init` scaffolds a project from the package's own data, and
Airflow finds the UI plugin through the package's entry point, once, even beside a plugins folder offering it."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from llf.settings import PROJECT_ROOT
from tests.cli.test_init import SCAFFOLD
from tests.support.wheel import Installed, install_wheel, run

PLUGINS = """
import json
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
print(json.dumps({"plugins": [p.name for p in plugins], "errors": errors}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    yield install_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working folder outside the repository."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert not folder.resolve().is_relative_to(PROJECT_ROOT)
    return folder


def test_given_the_wheel_installed_in_a_fresh_virtualenv_when_upgrading_an_empty_database_then_the_tables_exist(
    postgres, installed, elsewhere
):
    url = postgres.fresh_database(prefix="wheel", template="template0")

    where = run(installed.python, "-c", "import llf; print(llf.__file__)", cwd=elsewhere, env=installed.env)
    upgraded = run(installed.llf, "db", "upgrade", "--db-url", url, cwd=elsewhere, env=installed.env)

    assert Path(where.stdout.strip()).is_relative_to(installed.site), where.stdout
    assert "0008_cntl_cfg_log" in upgraded.stdout
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'cntl_af' "
                       "AND table_name IN ('cntl_cfg_strem', 'cntl_cfg_prcs', 'cntl_cfg_log')")
        assert cursor.fetchone() == (3,)
    connection.close()


def test_given_the_wheel_then_it_declares_the_ui_plugin_entry_point_and_carries_the_examples(installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        declared = wheel.read(entry_points).decode()

    assert "[airflow.plugins]\nllf_control_plane = llf.ui.plugin:LlfControlPlanePlugin" in declared
    assert {"llf/examples/notebooks/quickstart/extract.ipynb", "llf/examples/registrations/01_quickstart.sql",
            "llf/scaffold/dags/llf_dags.py", "llf/scaffold/registrations/quickstart.yaml"} <= set(names)


def test_given_the_installed_wheel_when_init_outside_the_repository_then_the_project_is_scaffolded(
    installed, elsewhere
) -> None:
    made = run(installed.llf, "init", "demo-project", cwd=elsewhere, env=installed.env)

    project = elsewhere / "demo-project"
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()) == SCAFFOLD, made.stdout
    assert (project / "notebooks/quickstart/extract.ipynb").read_bytes() == \
        (PROJECT_ROOT / "notebooks/examples/quickstart/extract.ipynb").read_bytes()
    found = run(installed.python, "-c", "from llf.settings import project_dir; print(project_dir())",
                cwd=project / "notebooks", env=installed.env)
    assert found.stdout.strip() == str(project.resolve())


@pytest.mark.parametrize("plugins_folder", ["none", "checkout"])
def test_given_the_installed_wheel_when_airflow_loads_plugins_then_the_ui_plugin_is_loaded_once_without_error(
    installed, elsewhere, plugins_folder: str
) -> None:
    folder = PROJECT_ROOT / "plugins" if plugins_folder == "checkout" else elsewhere / "plugins"
    env = {**installed.env, "AIRFLOW_HOME": str(elsewhere / "airflow"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(folder),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}

    loaded = json.loads(run(installed.python, "-c", PLUGINS, cwd=elsewhere, env=env).stdout.strip().splitlines()[-1])

    assert loaded["plugins"].count("llf_control_plane") == 1 and loaded["errors"] == {}, loaded
