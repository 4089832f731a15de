"""docker-compose.yml: valid for the real compose binary, every service health-gated, pinned images,
secrets only from .env, project folders mounted where Airflow and Jupyter look for them."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.stack import COMPOSE_FILE, SECRET_NAME, compose, env_example, env_file_without, is_one_shot

INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
AIRFLOW_COMPONENTS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
WORKERS = ("airflow-worker", "airflow-worker-llm")


def _environment_values(raw_compose: dict):
    for name, service in raw_compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            yield name, key, str(value)


@pytest.mark.parametrize("profiles", [(), ("--profile", "*")], ids=["default", "all-profiles"])
def test_given_env_from_example_when_compose_config_quiet_then_it_passes(example_env_file, profiles):
    result = compose(example_env_file, *profiles, "config", "--quiet")

    assert result.returncode == 0, result.stderr


def test_given_a_secret_missing_from_env_when_compose_config_then_it_stops_naming_the_setting(tmp_path):
    result = compose(env_file_without(tmp_path, "AIRFLOW_JWT_SECRET"), "config", "--quiet")

    assert result.returncode != 0
    assert "set AIRFLOW_JWT_SECRET in .env" in result.stderr


def test_given_the_stack_then_every_component_the_issue_lists_is_there(services):
    expected = {"postgres", "llf-init", *AIRFLOW_COMPONENTS, "jupyter", "minio", "minio-init", "weaviate",
                "ollama", "ollama-pull", "ollama-gpu", "adminer", "redis", "llf-pools", *WORKERS, "flower"}

    assert expected <= set(services)
    assert services["ollama-gpu"]["profiles"] == ["gpu"]
    assert services["adminer"]["profiles"] == ["adminer"]
    assert services["flower"]["profiles"] == ["flower"]


def test_given_long_running_services_then_each_has_a_healthcheck(services):
    missing = [name for name, service in services.items()
               if not is_one_shot(service) and not service.get("healthcheck", {}).get("test")]

    assert missing == []


def test_given_dependencies_then_long_running_ones_are_awaited_healthy_and_one_shots_completed(services):
    wrong = []
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            expected = ("service_completed_successfully" if is_one_shot(services[target])
                        else "service_healthy")
            if rule["condition"] != expected:
                wrong.append(f"{name} -> {target}: {rule['condition']} (want {expected})")

    assert wrong == []


def test_given_airflow_and_jupyter_then_they_wait_for_the_database_and_the_init(services):
    for name in (*AIRFLOW_COMPONENTS, *WORKERS, "jupyter"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert services[name]["depends_on"]["llf-init"]["condition"] == "service_completed_successfully", name


def test_given_images_then_every_one_is_pinned_to_a_version_tag(services):
    unpinned = []
    for name, service in services.items():
        image = service.get("image", "")
        repository, _, tag = image.rpartition(":")
        if not repository or "/" in tag or tag == "latest" or not re.search(r"\d", tag):
            unpinned.append(f"{name}: {image!r}")

    assert unpinned == []


def test_given_interpolated_variables_then_each_is_set_in_env_example_and_each_setting_is_used():
    used = {name for name, _ in INTERPOLATION.findall(COMPOSE_FILE.read_text(encoding="utf-8"))}
    settings = set(env_example())

    assert used - settings == set(), "used in docker-compose.yml, missing from .env.example"
    assert {key for key in settings - used if not key.startswith("COMPOSE_")} == set(), "unused settings"


def test_given_secret_settings_then_env_example_holds_only_obvious_placeholders():
    secrets = {key: value for key, value in env_example().items() if SECRET_NAME.search(key)}

    assert secrets, "no secret settings found in .env.example"
    real_looking = {key: value for key, value in secrets.items()
                    if not value.startswith("change-me")
                    and key not in ("LLF_MINIO_ACCESS_KEY", "LLF_UI_MINIO_ACCESS_KEY")}  # user names
    assert real_looking == {}


def test_given_secret_variables_then_compose_requires_them_and_never_defaults_them():
    defaulted = [f"${{{name}{rest}}}" for name, rest in INTERPOLATION.findall(COMPOSE_FILE.read_text())
                 if SECRET_NAME.search(name) and not rest.startswith(":?")]

    assert defaulted == []


def test_given_service_environments_then_no_secret_is_written_literally(raw_compose):
    literal = []
    for service, key, value in _environment_values(raw_compose):
        if SECRET_NAME.search(key) and not re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", value):
            literal.append(f"{service}.{key}")
        password = urlsplit(value).password if "://" in value else None
        if password is not None and not password.startswith("${"):
            literal.append(f"{service}.{key} (password in URL)")

    assert literal == []


def _mounts(service: dict) -> dict[str, dict]:
    return {mount["target"]: mount for mount in service.get("volumes", [])}


# Where each Airflow service finds the project's folders. The scheduler (CeleryExecutor) runs no notebook and
# parses no DAG file: it gets no notebooks (issue 25: notebooks off the scheduler).
PROJECT_FOLDERS = {
    "/opt/airflow/dags": "dags",  # AIRFLOW_HOME/dags, Airflow's default dags_folder in the image
    "/opt/airflow/plugins": "plugins",
    "notebooks": "notebooks",  # at LLF_NOTEBOOKS_DIR
    "/opt/airflow/control_sql": "control_sql",  # the example registrations; the DDL ships in the package
}
MOUNTED = {
    "llf-init": ("/opt/airflow/dags", "/opt/airflow/plugins", "notebooks", "/opt/airflow/control_sql"),
    "airflow-apiserver": ("/opt/airflow/dags", "/opt/airflow/plugins", "notebooks", "/opt/airflow/control_sql"),
    "airflow-dag-processor": ("/opt/airflow/dags", "/opt/airflow/plugins", "notebooks", "/opt/airflow/control_sql"),
    "airflow-triggerer": ("/opt/airflow/dags", "/opt/airflow/plugins", "notebooks", "/opt/airflow/control_sql"),
    "airflow-scheduler": ("/opt/airflow/dags", "/opt/airflow/plugins"),
    "airflow-worker": ("/opt/airflow/dags", "/opt/airflow/plugins", "notebooks"),
    "airflow-worker-llm": ("/opt/airflow/dags", "/opt/airflow/plugins", "notebooks"),
}


@pytest.mark.parametrize("name", MOUNTED)
def test_given_airflow_services_then_project_folders_are_mounted_where_airflow_and_llf_look(services, name):
    service = services[name]
    mounts = _mounts(service)
    environment = service["environment"]
    expected = {environment["LLF_NOTEBOOKS_DIR"] if target == "notebooks" else target: PROJECT_FOLDERS[target]
                for target in MOUNTED[name]}

    assert "AIRFLOW__CORE__DAGS_FOLDER" not in environment
    for target, folder in expected.items():
        assert target in mounts, f"{name}: nothing mounted at {target}"
        assert Path(mounts[target]["source"]).name == folder
        assert mounts[target]["type"] == "bind"
    project_folders = {Path(mount["source"]).name for mount in mounts.values() if mount["type"] == "bind"}
    assert project_folders & set(PROJECT_FOLDERS.values()) == set(expected.values()), \
        f"{name}: a project folder it does not need is mounted"


@pytest.mark.parametrize("name", WORKERS)
def test_given_workers_then_notebooks_are_mounted_read_only(services, name):
    worker = services[name]

    assert _mounts(worker)[worker["environment"]["LLF_NOTEBOOKS_DIR"]]["read_only"] is True


def test_given_jupyter_then_registered_notebooks_are_read_only_and_drafts_writable_both_in_its_root(services):
    """Issue 26: editing a registered notebook in JupyterLab must not change what runs (it is pinned too)."""
    jupyter = services["jupyter"]
    mounts = _mounts(jupyter)
    notebooks = mounts[jupyter["environment"]["LLF_NOTEBOOKS_DIR"]]
    drafts = next(mount for mount in mounts.values() if Path(mount["source"]).name == "drafts")
    root = next(arg.split("=", 1)[1] for arg in jupyter["command"] if arg.startswith("--ServerApp.root_dir="))

    assert Path(notebooks["source"]).name == "notebooks"
    assert notebooks.get("read_only") is True
    assert not drafts.get("read_only", False)
    assert {Path(notebooks["target"]).parent, Path(drafts["target"]).parent} == {Path(root)}
    assert (Path(COMPOSE_FILE).parent / "drafts").is_dir()  # else docker creates it, owned by root
    assert jupyter["environment"]["LLF_CONTROL_DB_URL"] == services["airflow-scheduler"]["environment"][
        "LLF_NOTEBOOK_DB_URL"]  # the database notebooks get under Airflow: the notebook role (test_boundaries.py)


def test_given_published_ports_then_none_clashes_and_all_listen_on_the_bind_address(services):
    published = [(port.get("host_ip"), port["published"], name)
                 for name, service in services.items() for port in service.get("ports", [])]
    seen: dict[tuple, str] = {}
    clashes = []
    for host_ip, port, name in published:
        if (host_ip, port) in seen:
            clashes.append(f"{port}: {seen[(host_ip, port)]} and {name}")
        seen[(host_ip, port)] = name

    assert clashes == []
    assert {host_ip for host_ip, _, _ in published} == {env_example()["LLF_BIND_ADDRESS"]}


def test_given_airflow_components_then_they_share_secrets_and_reach_the_api_server(services):
    shared = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY",
              "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL")
    for key in shared:
        assert len({services[name]["environment"][key] for name in AIRFLOW_COMPONENTS}) == 1, key

    scheduler = services["airflow-scheduler"]["environment"]
    execution_api = urlsplit(scheduler["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    api_server_port = services["airflow-apiserver"]["ports"][0]["target"]
    assert (execution_api.hostname, execution_api.port) == ("airflow-apiserver", api_server_port)
    assert execution_api.path == "/execution/"


def test_given_llf_settings_then_they_point_at_the_stack_services(services):
    environment = services["airflow-scheduler"]["environment"]

    assert urlsplit(environment["LLF_CONTROL_DB_URL"]).hostname == "postgres"
    assert environment["LLF_LAKE_URL"] == f"s3://{env_example()['LLF_LAKE_BUCKET']}"
    assert environment["LLF_MINIO_ENDPOINT"].split(":")[0] == "minio"
    assert urlsplit(environment["LLF_VECTOR_URL"]).hostname == "weaviate"
    assert urlsplit(environment["OLLAMA_HOST"]).hostname in {"ollama", "ollama-gpu"}
    weaviate_targets = {int(port) for port in services["weaviate"]["expose"]}
    vector_url = urlsplit(environment["LLF_VECTOR_URL"])
    assert {vector_url.port, int(vector_url.query.split("grpc_port=")[1])} == weaviate_targets


def test_given_the_dag_processor_and_the_workers_then_they_share_llf_state_dir_on_a_named_volume(services):
    """The snapshot cache outlives a container recreation (a parse with no cache may build no DAG), the
    workers' task parses find the dag-processor's cache, and kept notebooks (unstored outputs) survive.
    (Before issue 25 the scheduler ran the tasks under LocalExecutor and shared it; now the workers do.)"""
    mounts = []
    for name in ("airflow-dag-processor", *WORKERS):
        state_dir = services[name]["environment"]["LLF_STATE_DIR"]
        mount = _mounts(services[name]).get(state_dir)
        assert mount is not None, f"{name}: LLF_STATE_DIR {state_dir} is not on a volume"
        mounts.append((mount["type"], mount["source"], state_dir))

    assert len(set(mounts)) == 1 and mounts[0][0] == "volume"


# Read-only root filesystems (issue 26): each service writes only its volumes and its tmpfs scratch folders, so
# nothing it runs (a notebook on a worker included) can change the programs, packages or settings of its image.
# The services left writable, each for a reason the compose file states beside it.
WRITABLE_ROOT = {
    "jupyter": "HOME",  # JupyterLab's settings, workspaces, runtime files: in HOME, which holds the packages too
    "minio": "certs",  # MinIO makes ~/.minio/certs at start and its healthcheck's mc writes ~/.mc
    "minio-init": "mc",  # mc writes its config in ~/.mc
    "ollama-gpu": "NVIDIA",  # the NVIDIA runtime's hook writes into the container's root filesystem
}
# What each read-only service must still write, besides /tmp: a volume or a tmpfs at each folder.
WRITES = {
    "postgres": ("/var/lib/postgresql/data", "/var/run/postgresql"),
    "redis": ("/data",),
    "weaviate": ("/var/lib/weaviate",),
    "ollama": ("/root/.ollama",),
    "airflow-apiserver": ("/opt/airflow/logs", "/opt/airflow/auth"),
    "airflow-scheduler": ("/opt/airflow/logs",),
    "airflow-dag-processor": ("/opt/airflow/logs", "/opt/airflow/llf"),
    "airflow-triggerer": ("/opt/airflow/logs", "/opt/airflow/llf"),
    "airflow-worker": ("/opt/airflow/logs", "/opt/airflow/llf"),
    "airflow-worker-llm": ("/opt/airflow/logs", "/opt/airflow/llf"),
    "llf-init": ("/opt/airflow/logs", "/opt/airflow/auth"),
}
AIRFLOW_CLI_SERVICES = ("llf-init", *AIRFLOW_COMPONENTS, *WORKERS, "flower")


def _tmpfs(service: dict) -> dict[str, set[str]]:
    """target -> its mount options, from the short (`/tmp:exec`) and the long (`type: tmpfs`) syntax."""
    mounts = {}
    for entry in service.get("tmpfs") or []:
        target, _, options = entry.partition(":")
        mounts[target] = set(filter(None, options.split(",")))
    for mount in service.get("volumes", []):
        if mount["type"] == "tmpfs":
            mounts[mount["target"]] = set()
    return mounts


def test_given_each_service_then_its_root_filesystem_is_read_only_unless_the_compose_file_says_why_not(
    services, raw_compose
):
    writable = {name for name, service in services.items() if not service.get("read_only")}
    comments = COMPOSE_FILE.read_text(encoding="utf-8")

    assert writable == set(WRITABLE_ROOT)
    for name, reason in WRITABLE_ROOT.items():
        assert re.search(rf"^#\s+{re.escape(name)}\s.*{reason}", comments, flags=re.MULTILINE), \
            f"{name}: the compose file's list of writable root filesystems does not say why ({reason})"


@pytest.mark.parametrize("name", sorted(WRITES))
def test_given_a_read_only_service_then_what_it_writes_is_a_volume_or_a_tmpfs(services, name):
    service = services[name]
    writable = {target for target, mount in _mounts(service).items()
                if mount["type"] in ("volume", "tmpfs") and not mount.get("read_only")} | set(_tmpfs(service))

    assert service["read_only"] is True
    assert [folder for folder in WRITES[name] if folder not in writable] == []


def test_given_a_read_only_service_then_it_has_a_writable_tmp(services):
    without = [name for name, service in services.items() if service.get("read_only") and "/tmp" not in _tmpfs(service)]

    assert without == []


@pytest.mark.parametrize("name", AIRFLOW_CLI_SERVICES)
def test_given_an_airflow_cli_service_then_the_config_airflow_writes_at_start_goes_to_a_tmpfs_kernels_cannot_open(
    services, name
):
    """Every `airflow` command writes airflow.cfg (a generated Fernet key and JWT secret in it) when it finds none:
    on a read-only root it goes to a tmpfs of group 0 (the Airflow user's) that notebook kernels, under their
    streams' own users with no group, can neither read nor write; not /tmp, which they share."""
    service = services[name]
    config = Path(service["environment"]["AIRFLOW_CONFIG"])
    options = _tmpfs(service).get(str(config.parent))

    assert config.name == "airflow.cfg" and config.parent != Path("/tmp")
    assert options is not None, f"{name}: no tmpfs at {config.parent}"
    mode = next(option.split("=", 1)[1] for option in options if option.startswith("mode="))
    assert int(mode, 8) & 0o007 == 0


@pytest.mark.parametrize("name", WORKERS)
def test_given_a_worker_then_its_tmp_lets_a_kernel_run_what_it_builds_in_its_home(services, name):
    """A kernel's HOME and TMPDIR live under /tmp (llf.runner.kernel_user.private_home): notebook code that compiles
    and loads native code there (numba, torch extensions, cffi) needs it executable, as it was before."""
    assert "exec" in _tmpfs(services[name])["/tmp"]
