"""docker-compose.yml on CeleryExecutor (issue 25), checked statically: a pinned Redis broker with a healthcheck,
behind a password from .env that only the services sending or taking Celery messages hold (issue 26), workers that
scale and serve their queues, Flower behind a profile, pools synced once the api-server answers, and each service's
environment holding only the secrets its job needs: the workers, which run the notebooks, hold none of Airflow's
own."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.deploy.stack import ROOT, SECRET_NAME, env_example

WORKERS = {"airflow-worker": "default", "airflow-worker-llm": "llm"}
AIRFLOW_SECRETS = {"AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"}
AIRFLOW_SECRET_KEYS = ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY",
                       "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
# What a task needs: the control tables' owner (the runner writes the run log), the notebook login it hands
# kernels, Celery's result backend, the lake and the vector store.
TASK_SECRETS = {"LLF_DB_PASSWORD", "LLF_NOTEBOOK_DB_PASSWORD", "AIRFLOW_CELERY_DB_PASSWORD", "LLF_MINIO_SECRET_KEY",
                "LLF_WEAVIATE_API_KEY"}
# The services that send or take Celery messages, the only ones given the broker (and its password).
BROKER_USERS = {"airflow-scheduler", *WORKERS, "flower"}
# What the api-server's control-plane UI reads with (and all llf code there needs): its own login and MinIO user.
UI_SECRETS = {"LLF_UI_DB_PASSWORD", "LLF_UI_MINIO_SECRET_KEY"}
# The .env secrets each service's environment holds (its values searched for each secret's value, so a secret
# inside a URL counts too). Services not listed hold none.
EXPECTED_SECRETS = {
    "postgres": {"POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "LLF_DB_PASSWORD", "LLF_NOTEBOOK_DB_PASSWORD",
                 "AIRFLOW_CELERY_DB_PASSWORD", "LLF_UI_DB_PASSWORD"},
    # every secret, shown only to refuse change-me placeholders and dropped before it runs anything
    # (tests/deploy/test_least_privilege_init.py); it uses the task's and Airflow's secrets and the admin's
    "llf-init": {key for key, value in env_example().items() if SECRET_NAME.search(key) and
                 value.startswith("change-me")},
    # Celery's result backend only as Airflow's executor settings, alike in every Airflow component
    "airflow-apiserver": UI_SECRETS | AIRFLOW_SECRETS | {"AIRFLOW_CELERY_DB_PASSWORD"},
    "airflow-scheduler": TASK_SECRETS | AIRFLOW_SECRETS | {"REDIS_PASSWORD"},
    "airflow-dag-processor": TASK_SECRETS | AIRFLOW_SECRETS,
    "airflow-triggerer": TASK_SECRETS | AIRFLOW_SECRETS,
    "airflow-worker": TASK_SECRETS | {"REDIS_PASSWORD"},
    "airflow-worker-llm": TASK_SECRETS | {"REDIS_PASSWORD"},
    "llf-pools": {"LLF_DB_PASSWORD", "AIRFLOW_ADMIN_PASSWORD"},
    "flower": {"AIRFLOW_CELERY_DB_PASSWORD", "FLOWER_PASSWORD", "REDIS_PASSWORD"},
    "redis": {"REDIS_PASSWORD"},
    "jupyter": {"LLF_NOTEBOOK_DB_PASSWORD", "LLF_MINIO_SECRET_KEY", "LLF_WEAVIATE_API_KEY", "JUPYTER_TOKEN"},
    "minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "minio-init": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "LLF_MINIO_SECRET_KEY", "LLF_UI_MINIO_SECRET_KEY"},
    "weaviate": {"LLF_WEAVIATE_API_KEY"},
}


def _secrets_held(service: dict) -> set[str]:
    """The .env secret settings whose value appears anywhere in the service's environment."""
    secrets = {key: value for key, value in env_example().items()
               if SECRET_NAME.search(key) and value.startswith("change-me")}
    values = [str(value) for value in (service.get("environment") or {}).values()]
    return {key for key, secret in secrets.items() if any(secret in value for value in values)}


def test_given_each_service_then_its_environment_holds_exactly_the_secrets_its_job_needs(services):
    held = {name: _secrets_held(service) for name, service in services.items()}

    assert {name: secrets for name, secrets in held.items() if secrets} == EXPECTED_SECRETS


@pytest.mark.parametrize("name", WORKERS)
def test_given_a_worker_then_it_holds_no_airflow_secret_only_what_a_task_needs(services, name):
    environment = services[name]["environment"]
    celery_login = urlsplit(environment["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))

    assert [key for key in AIRFLOW_SECRET_KEYS if key in environment] == []
    assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert urlsplit(environment["LLF_CONTROL_DB_URL"]).username == env_example()["LLF_DB_USER"]
    assert urlsplit(environment["LLF_NOTEBOOK_DB_URL"]).username == env_example()["LLF_NOTEBOOK_DB_USER"]
    assert environment["LLF_LAKE_URL"].startswith("s3://") and environment["LLF_MINIO_ENDPOINT"] == "minio:9000"
    assert urlsplit(environment["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    assert (celery_login.username, celery_login.path.lstrip("/")) == (
        env_example()["AIRFLOW_CELERY_DB_USER"], env_example()["AIRFLOW_CELERY_DB_NAME"])


def test_given_the_result_backend_then_it_is_a_login_and_database_of_celerys_own(services):
    settings = env_example()
    backend = urlsplit(services["airflow-scheduler"]["environment"]["AIRFLOW__CELERY__RESULT_BACKEND"])

    assert backend.scheme == "db+postgresql+psycopg2" and backend.hostname == "postgres"
    assert backend.username not in {settings[key] for key in (
        "AIRFLOW_DB_USER", "LLF_DB_USER", "LLF_NOTEBOOK_DB_USER", "POSTGRES_USER")}
    assert backend.path.lstrip("/") not in {settings["AIRFLOW_DB_NAME"], settings["LLF_DB_NAME"], "postgres"}
    assert (ROOT / "docker/postgres/30-airflow-celery-backend.sh").is_file()
    postgres = services["postgres"]["environment"]
    assert {postgres[key] for key in ("AIRFLOW_CELERY_DB_USER", "AIRFLOW_CELERY_DB_NAME")} == {
        backend.username, backend.path.lstrip("/")}


@pytest.mark.parametrize("name", ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                                  "airflow-triggerer", "llf-init", *WORKERS])
def test_given_airflow_services_then_they_run_celery_executor_on_one_result_backend(services, name):
    environment = services[name]["environment"]
    scheduler = services["airflow-scheduler"]["environment"]

    assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert environment["AIRFLOW__CELERY__RESULT_BACKEND"] == scheduler["AIRFLOW__CELERY__RESULT_BACKEND"]


def test_given_the_broker_then_only_the_services_that_send_or_take_celery_messages_hold_its_url(services):
    """The scheduler queues task commands, the workers take them, Flower watches them; the api-server, the
    dag-processor, the triggerer, llf-init and JupyterLab never open the broker, so they hold neither its URL
    nor its password (issue 26: the messages carry the tasks' tokens)."""
    holders = {name for name, service in services.items()
               if "AIRFLOW__CELERY__BROKER_URL" in (service.get("environment") or {})}
    urls = {services[name]["environment"]["AIRFLOW__CELERY__BROKER_URL"] for name in BROKER_USERS}

    assert holders == BROKER_USERS
    assert len(urls) == 1
    broker = urlsplit(urls.pop())
    assert (broker.scheme, broker.hostname, broker.port, broker.path) == ("redis", "redis", 6379, "/0")
    assert (broker.username, broker.password) == ("", env_example()["REDIS_PASSWORD"])


@pytest.mark.parametrize(("name", "queue"), WORKERS.items())
def test_given_a_worker_service_then_it_serves_its_queue_and_celery_pings_it_by_its_hostname(services, name, queue):
    worker = services[name]
    command = worker["command"]
    healthcheck = " ".join(worker["healthcheck"]["test"])

    assert command[:2] == ["celery", "worker"]
    assert command[command.index("--queues") + 1] == queue
    assert "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping" in healthcheck
    assert '-d "celery@$${HOSTNAME}"' in healthcheck  # escaped for compose: the container's shell expands it
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"  # the execution API


@pytest.mark.parametrize("name", WORKERS)
def test_given_a_worker_service_then_it_scales(services, raw_compose, name):
    """`docker compose up -d --scale airflow-worker=N` needs replicas that differ: no fixed container name,
    hostname or host port."""
    worker = services[name]

    assert "container_name" not in worker and "hostname" not in worker
    assert not worker.get("ports")
    assert "container_name" not in raw_compose["services"][name]


def test_given_redis_then_it_is_pinned_health_checked_and_not_published(services):
    redis = services["redis"]
    repository, _, tag = redis["image"].rpartition(":")

    assert repository == "redis" and re.match(r"7\.2\.\d+-", tag), redis["image"]  # the BSD-licensed line
    assert redis["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "redis-cli ping" in redis["healthcheck"]["test"][1]
    assert not redis.get("ports")


def test_given_redis_then_it_asks_for_the_password_of_env_which_reaches_it_on_no_command_line(services, raw_compose):
    """redis-server reads `requirepass` on stdin (its `-` argument) and redis-cli (the healthcheck) reads
    REDISCLI_AUTH: an argument would show in /proc/<pid>/cmdline. A wrong password answers NOAUTH with exit 0,
    so the healthcheck looks for the PONG."""
    redis = services["redis"]
    password = env_example()["REDIS_PASSWORD"]
    script = redis["command"][-1]
    argv = " ".join([*(redis.get("entrypoint") or []), *redis["command"], *redis["healthcheck"]["test"]])

    assert raw_compose["services"]["redis"]["environment"]["REDISCLI_AUTH"] == (
        "${REDIS_PASSWORD:?set REDIS_PASSWORD in .env}")
    assert redis["environment"]["REDISCLI_AUTH"] == password
    assert password not in argv
    assert redis["command"][:2] == ["sh", "-c"]
    assert re.search(r"exec redis-server (.* )?- <<", script) and 'requirepass "$$REDISCLI_AUTH"' in script
    assert redis["healthcheck"]["test"][1].endswith("| grep -q PONG")


def test_given_flower_then_it_runs_under_its_profile_only(services, example_env_file):
    from tests.deploy.stack import compose

    default = compose(example_env_file, "config", "--services")

    assert services["flower"]["profiles"] == ["flower"]
    assert services["flower"]["command"] == ["celery", "flower"]
    assert "flower" not in default.stdout.split()


def test_given_the_pools_then_they_are_synced_after_the_api_server_and_before_the_scheduler(services):
    pools = services["llf-pools"]

    assert "llf pools sync" in " ".join(pools["command"])
    assert pools["restart"] == "no"
    assert pools["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    assert pools["depends_on"]["llf-init"]["condition"] == "service_completed_successfully"
    assert urlsplit(pools["environment"]["LLF_AIRFLOW_URL"]).hostname == "airflow-apiserver"
    assert services["airflow-scheduler"]["depends_on"]["llf-pools"]["condition"] == "service_completed_successfully"


def test_given_the_scheduler_then_it_runs_no_notebook_and_waits_for_none_of_their_services(services):
    scheduler = services["airflow-scheduler"]
    mounted = {mount["target"] for mount in scheduler["volumes"]}

    assert scheduler["environment"]["LLF_NOTEBOOKS_DIR"] not in mounted
    assert not {"minio-init", "weaviate", "ollama-pull"} & set(scheduler["depends_on"])


def test_given_ollama_then_its_parallelism_is_the_one_setting_of_env(services, raw_compose):
    parallel = env_example()["OLLAMA_NUM_PARALLEL"]

    for name in ("ollama", "ollama-gpu"):
        assert services[name]["environment"]["OLLAMA_NUM_PARALLEL"] == parallel, name
        assert raw_compose["services"][name]["environment"]["OLLAMA_NUM_PARALLEL"].startswith(
            "${OLLAMA_NUM_PARALLEL:?")


def test_given_the_example_llm_pool_then_its_slots_match_ollamas_parallelism():
    registrations = " ".join(path.read_text(encoding="utf-8") for path in (ROOT / "control_sql").rglob("*.sql"))
    pool = re.search(r"cntl_cfg_pool\b[^;]*?\(\s*'llm'\s*,\s*(\d+)", registrations, flags=re.IGNORECASE)
    if pool is None:
        pytest.skip("no example registration of the `llm` pool yet (control_sql/examples, issue 25)")

    assert pool.group(1) == env_example()["OLLAMA_NUM_PARALLEL"]
