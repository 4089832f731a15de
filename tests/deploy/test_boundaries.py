"""Who can reach what in the compose stack: only the Airflow UI, JupyterLab and the MinIO console are published
(on LLF_BIND_ADDRESS); Weaviate refuses anonymous clients and llf shows it the key from .env; notebook code
(Airflow's kernels, JupyterLab) gets the notebook role's database URL, and JupyterLab never the owner's; the
api-server, where the read-only control-plane UI runs, reads as the UI's login and MinIO user, never as llf's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.stack import COMPOSE_BINARY, COMPOSE_FILE, ROOT, compose, env_example, env_file_without

HOST_PORTS_FILE = ROOT / "docker" / "compose.host-ports.yml"
AIRFLOW_COMPONENTS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
# The components that run llf's code beside Airflow's (DAG files, triggers): the api-server runs only the UI.
LLF_COMPONENTS = ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def _render(env_file: Path, *files: Path, profiles: tuple[str, ...] = ()) -> dict:
    """The compose model of `files` (default: docker-compose.yml alone) as the compose binary resolves it."""
    arguments = [argument for file in files for argument in ("-f", str(file))]
    command = [str(COMPOSE_BINARY), "-f", str(COMPOSE_FILE), *arguments, "--env-file", str(env_file),
               *profiles, "config", "--format", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def _published(services: dict) -> dict[str, set[tuple[str, int]]]:
    """service -> {(host address, container port)} of every published port."""
    return {name: {(port.get("host_ip"), int(port["target"])) for port in service["ports"]}
            for name, service in services.items() if service.get("ports")}


def test_given_the_default_stack_then_only_airflow_jupyter_and_the_minio_console_are_published(example_env_file):
    bind = env_example()["LLF_BIND_ADDRESS"]

    published = _published(_render(example_env_file))

    assert published == {"airflow-apiserver": {(bind, 8080)}, "jupyter": {(bind, 8888)}, "minio": {(bind, 9001)}}


def test_given_every_profile_then_adminer_and_flower_are_the_only_additions_and_still_on_the_bind_address(
    services,
):
    bind = env_example()["LLF_BIND_ADDRESS"]

    published = _published(services)

    assert set(published) == {"airflow-apiserver", "jupyter", "minio", "adminer", "flower"}
    assert {address for ports in published.values() for address, _ in ports} == {bind}
    assert services["adminer"]["profiles"] == ["adminer"]
    assert services["flower"]["profiles"] == ["flower"]
    assert services["flower"]["environment"]["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"] == \
        f"{env_example()['AIRFLOW_ADMIN_USER']}:{env_example()['FLOWER_PASSWORD']}"  # Flower asks for a password


def test_given_the_host_ports_file_when_added_then_the_back_ends_are_published_on_the_bind_address_only(
    example_env_file,
):
    bind = env_example()["LLF_BIND_ADDRESS"]

    published = _published(_render(example_env_file, HOST_PORTS_FILE))

    assert published["postgres"] == {(bind, 5432)}
    assert published["minio"] == {(bind, 9000), (bind, 9001)}
    assert published["weaviate"] == {(bind, 8080), (bind, 50051)}
    assert published["ollama"] == {(bind, 11434)}
    assert published["redis"] == {(bind, 6379)}  # for Celery workers on other hosts


def test_given_weaviate_then_anonymous_access_is_off_and_the_api_key_comes_from_env(services, raw_compose):
    weaviate = services["weaviate"]["environment"]
    key = env_example()["LLF_WEAVIATE_API_KEY"]

    assert weaviate["AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED"] == "false"
    assert weaviate["AUTHENTICATION_APIKEY_ENABLED"] == "true"
    assert weaviate["AUTHENTICATION_APIKEY_ALLOWED_KEYS"] == key
    assert weaviate["AUTHENTICATION_APIKEY_USERS"]
    assert raw_compose["services"]["weaviate"]["environment"]["AUTHENTICATION_APIKEY_ALLOWED_KEYS"].startswith(
        "${LLF_WEAVIATE_API_KEY:?")
    for name in ("airflow-scheduler", "jupyter", "llf-init"):
        assert services[name]["environment"]["LLF_WEAVIATE_API_KEY"] == key, name


def test_given_weaviate_then_rbac_and_db_users_let_llf_make_each_attempt_a_key_of_its_own(services):
    """The runner (llf.runner.vector_key) makes a DB user per attempt with its stream's role: that needs RBAC, DB
    users, and llf's API-key user among the root users."""
    weaviate = services["weaviate"]["environment"]
    assert weaviate["AUTHORIZATION_RBAC_ENABLED"] == "true"
    assert weaviate["AUTHENTICATION_DB_USERS_ENABLED"] == "true"
    assert weaviate["AUTHORIZATION_RBAC_ROOT_USERS"] == weaviate["AUTHENTICATION_APIKEY_USERS"] == "llf"


def test_given_the_init_environment_then_the_llf_vectors_connection_holds_the_weaviate_key(services, tmp_path):
    environment = services["llf-init"]["environment"]
    out = tmp_path / "connections.json"

    subprocess.run([sys.executable, str(ROOT / "docker/init/connections.py"), str(out)],
                   env={**os.environ, **environment}, check=True)

    assert json.loads(out.read_text())["llf_vectors"]["password"] == env_example()["LLF_WEAVIATE_API_KEY"]


def _login(url: str) -> tuple[str | None, str | None]:
    parts = urlsplit(url)
    return parts.username, parts.password


@pytest.mark.parametrize("name", LLF_COMPONENTS)
def test_given_airflow_components_then_they_hold_the_notebook_role_url_beside_the_owners(services, name):
    settings = env_example()
    environment = services[name]["environment"]

    assert _login(environment["LLF_NOTEBOOK_DB_URL"]) == (settings["LLF_NOTEBOOK_DB_USER"],
                                                          settings["LLF_NOTEBOOK_DB_PASSWORD"])
    assert _login(environment["LLF_CONTROL_DB_URL"]) == (settings["LLF_DB_USER"], settings["LLF_DB_PASSWORD"])
    assert settings["LLF_NOTEBOOK_DB_USER"] != settings["LLF_DB_USER"]


def test_given_the_api_server_then_the_ui_reads_as_its_own_login_and_minio_user_and_llfs_are_nowhere(services):
    """The control plane only reads: the api-server holds the llf_ui_reader login and the MinIO user limited to
    getting runs/ objects, not the control tables' owner, the notebook login or llf's read-write MinIO key."""
    settings = env_example()
    environment = services["airflow-apiserver"]["environment"]

    assert _login(environment["LLF_UI_DB_URL"]) == (settings["LLF_UI_DB_USER"], settings["LLF_UI_DB_PASSWORD"])
    assert urlsplit(environment["LLF_UI_DB_URL"]).path == f"/{settings['LLF_DB_NAME']}"
    assert (environment["LLF_UI_MINIO_ACCESS_KEY"], environment["LLF_UI_MINIO_SECRET_KEY"]) == (
        settings["LLF_UI_MINIO_ACCESS_KEY"], settings["LLF_UI_MINIO_SECRET_KEY"])
    assert environment["LLF_LAKE_URL"] == f"s3://{settings['LLF_LAKE_BUCKET']}"
    assert [key for key in ("LLF_CONTROL_DB_URL", "LLF_NOTEBOOK_DB_URL", "LLF_MINIO_ACCESS_KEY",
                            "LLF_MINIO_SECRET_KEY", "LLF_WEAVIATE_API_KEY") if key in environment] == []
    leaked = [key for key, value in environment.items() if any(settings[secret] in str(value) for secret in (
        "LLF_DB_PASSWORD", "LLF_NOTEBOOK_DB_PASSWORD", "LLF_MINIO_SECRET_KEY"))]
    assert leaked == []
    assert len({settings[key] for key in ("LLF_UI_DB_USER", "LLF_DB_USER", "LLF_NOTEBOOK_DB_USER")}) == 3
    assert settings["LLF_UI_MINIO_ACCESS_KEY"] != settings["LLF_MINIO_ACCESS_KEY"]


def test_given_jupyter_then_its_notebooks_connect_as_the_notebook_role_and_the_owner_is_nowhere(services):
    settings = env_example()
    environment = services["jupyter"]["environment"]

    assert _login(environment["LLF_CONTROL_DB_URL"]) == (settings["LLF_NOTEBOOK_DB_USER"],
                                                         settings["LLF_NOTEBOOK_DB_PASSWORD"])
    assert environment["LLF_NOTEBOOK_DB_URL"] == environment["LLF_CONTROL_DB_URL"]
    leaked = [key for key, value in environment.items()
              if settings["LLF_DB_PASSWORD"] in str(value) or f"//{settings['LLF_DB_USER']}:" in str(value)]
    assert leaked == []


def test_given_postgres_then_its_first_start_gets_the_notebook_login_from_env(services):
    settings = env_example()
    postgres = services["postgres"]
    init_folder = next(mount for mount in postgres["volumes"] if mount["target"] == "/docker-entrypoint-initdb.d")

    assert postgres["environment"]["LLF_NOTEBOOK_DB_USER"] == settings["LLF_NOTEBOOK_DB_USER"]
    assert postgres["environment"]["LLF_NOTEBOOK_DB_PASSWORD"] == settings["LLF_NOTEBOOK_DB_PASSWORD"]
    assert (Path(init_folder["source"]) / "20-llf-notebook-role.sh").is_file()


def test_given_postgres_and_minio_init_then_their_first_start_gets_the_uis_login_and_user_from_env(services):
    settings = env_example()
    postgres, minio_init = services["postgres"], services["minio-init"]
    init_folder = next(mount for mount in postgres["volumes"] if mount["target"] == "/docker-entrypoint-initdb.d")

    assert {key: postgres["environment"][key] for key in ("LLF_UI_DB_USER", "LLF_UI_DB_PASSWORD")} == {
        key: settings[key] for key in ("LLF_UI_DB_USER", "LLF_UI_DB_PASSWORD")}
    assert (Path(init_folder["source"]) / "40-llf-ui-reader.sh").is_file()
    assert {key: minio_init["environment"][key] for key in ("LLF_UI_MINIO_ACCESS_KEY", "LLF_UI_MINIO_SECRET_KEY")} \
        == {key: settings[key] for key in ("LLF_UI_MINIO_ACCESS_KEY", "LLF_UI_MINIO_SECRET_KEY")}


def test_given_a_missing_notebook_password_when_compose_config_then_it_stops_naming_the_setting(tmp_path):
    result = compose(env_file_without(tmp_path, "LLF_NOTEBOOK_DB_PASSWORD"), "config", "--quiet")

    assert result.returncode != 0
    assert "set LLF_NOTEBOOK_DB_PASSWORD in .env" in result.stderr
