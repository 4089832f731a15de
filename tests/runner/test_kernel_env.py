"""The kernel's allowlist (llf/runner/kernel_env.py), checked as data; what a real kernel sees is in
tests/runner/test_notebook_role.py."""

from __future__ import annotations

from llf.runner.kernel_env import KERNEL_ENV_NAMES, SDK_SETTINGS, kernel_environment
from llf.settings import REGISTRY

# llf's settings a kernel never gets from the worker: the owner's URL, Airflow's login, llf's own bookkeeping,
# and those the runner hands over itself in `extra` (notebook URL, Weaviate key, run context, the registered
# connections, the attempt token, the stream's class prefix: a worker's own LLF_CONNECTIONS or LLF_ATTEMPT_TOKEN
# must never pass). The stream logins' connection limit, the lake keys' switch and lifetime and the vector keys'
# switch are the runner's, nothing the SDK reads; the project folder is the commands' (a kernel runs in its
# notebook's folder and is handed the lake's URL).
WORKER_ONLY_SETTINGS = {
    "LLF_CONTROL_DB_URL", "LLF_NOTEBOOK_DB_URL", "LLF_WEAVIATE_API_KEY", "LLF_RUN_CONTEXT", "LLF_CONNECTIONS",
    "LLF_ATTEMPT_TOKEN", "LLF_LAKE_STREAM", "LLF_VECTOR_PREFIX",
    "LLF_NOTEBOOKS_DIR",
    "LLF_CONTROL_SQL_DIR", "LLF_SNAPSHOT_REFRESH_SECONDS", "LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", "LLF_STREAM_WAIT",
    "LLF_STATE_DIR", "LLF_LOCK_CHECK_SECONDS", "LLF_LOCAL_DIR", "LLF_LOCAL_PORT", "LLF_AIRFLOW_URL",
    "LLF_AIRFLOW_USER", "LLF_AIRFLOW_PASSWORD", "LLF_WORKER_HOSTNAME", "LLF_STREAM_DB_CONNECTION_LIMIT",
    "LLF_KERNEL_USERS", "LLF_KERNEL_UID_BASE", "LLF_UI_DB_URL", "LLF_UI_MINIO_ACCESS_KEY", "LLF_UI_MINIO_SECRET_KEY",
    "LLF_LAKE_STREAM_KEYS", "LLF_LAKE_KEY_SECONDS", "LLF_PROJECT_DIR", "LLF_VECTOR_STREAM_KEYS",
}


def test_given_every_llf_setting_then_each_is_either_handed_to_kernels_or_kept_in_the_worker_on_purpose():
    """A new setting is a decision: the SDK needs it in the kernel, or the kernel must not see it."""
    handed = {setting.name for setting in SDK_SETTINGS}

    assert handed | WORKER_ONLY_SETTINGS == set(REGISTRY)
    assert handed & WORKER_ONLY_SETTINGS == set()
    assert handed <= KERNEL_ENV_NAMES


def test_given_a_worker_environment_then_only_allowlisted_names_pass_and_extra_wins():
    worker = {"PATH": "/usr/bin", "LC_TIME": "fr_FR.UTF-8", "LLF_LLM_MODEL": "m", "PGPASSWORD": "p",
              "AWS_SECRET_ACCESS_KEY": "s", "LLF_CONTROL_DB_URL": "postgresql://owner@db/llf", "SOME_TOKEN": "t",
              "JUPYTER_TOKEN": "j", "AIRFLOW__CORE__FERNET_KEY": "f"}

    env = kernel_environment({"LLF_CONTROL_DB_URL": "postgresql://notebook@db/llf"}, worker)

    assert env == {"PATH": "/usr/bin", "LC_TIME": "fr_FR.UTF-8", "LLF_LLM_MODEL": "m",
                   "LLF_CONTROL_DB_URL": "postgresql://notebook@db/llf"}
