"""The environment a notebook kernel starts with: an allowlist of the worker's variables, never the worker's
environment less a denylist.

A worker holds what it needs for itself: Airflow's configuration and secrets (AIRFLOW__*, AIRFLOW_CONN_*,
AIRFLOW_VAR_*), the control tables' owner URL, libpq's defaults (PGPASSWORD, PGSERVICEFILE), cloud credentials
(AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_*) and whatever tokens a site adds. A denylist has to name every
one of them in advance and misses the next; an allowlist hands notebook code only what a Python kernel needs
to start and behave, and the llf settings the SDK reads, and a variable nobody listed stays in the worker.
What llf hands a kernel on purpose (the run context, the notebook role's DB URL, the Weaviate key, the Airflow
connections its process registered in LLF_CONNECTIONS) comes in `extra` and wins over the worker's value of the
same name.

This keeps secrets out of `os.environ`; it is not an OS boundary: code running as the worker's OS user can
still read the worker's own /proc/<pid>/environ (docs, Security).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from llf import settings


@dataclass(frozen=True)
class Family:
    """Variables a kernel gets, and why it needs them."""

    why: str
    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


def _proxy(*names: str) -> tuple[str, ...]:
    """Proxy variables as both spellings are read (curl and requests read lower case, others upper)."""
    return tuple(spelling for name in names for spelling in (name, name.upper()))


# The llf settings the SDK reads in a kernel (nb.lake, nb.llm, nb.vectors). The lake's key is among them:
# nb.lake() signs its S3 requests with LLF_MINIO_ACCESS_KEY/LLF_MINIO_SECRET_KEY/LLF_MINIO_SESSION_TOKEN
# (llf/services/lake/s3.py), and on an s3:// lake the runner replaces llf's pair with the stream's own temporary
# key (llf.runner.lake_key) unless LLF_LAKE_STREAM_KEYS is off. The LLM's API key
# is there for the same reason (nb.llm() on an OpenAI-compatible server). Not among them: the owner's URL,
# Airflow's login, and llf's own bookkeeping (state dir, snapshot, lock and local-mode settings).
SDK_SETTINGS: tuple[settings.Setting, ...] = (
    settings.LAKE_URL, settings.MINIO_ENDPOINT, settings.MINIO_ACCESS_KEY, settings.MINIO_SECRET_KEY,
    settings.MINIO_SECURE, settings.MINIO_REGION, settings.MINIO_SESSION_TOKEN,
    settings.LLM_PROVIDER, settings.OLLAMA_HOST, settings.LLM_MODEL, settings.EMBED_MODEL, settings.OPENAI_BASE_URL,
    settings.OPENAI_API_KEY, settings.LLAMACPP_MODEL_PATH, settings.LLAMACPP_THREADS, settings.LLAMACPP_CONTEXT,
    settings.LLM_TIMEOUT, settings.LLM_ATTEMPTS, settings.LLM_RETRY_WAIT, settings.LLM_REASKS, settings.LLM_CACHE,
    settings.LLM_HOOKS, settings.LLM_CONCURRENCY,
    settings.VECTOR_URL,
)

KERNEL_ENV_FAMILIES: tuple[Family, ...] = (
    Family("a process's basics: finding programs and shared libraries, the home folder (caches, the llama.cpp "
           "model), who it runs as, where temporary files go",
           ("PATH", "LD_LIBRARY_PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TEMP", "TMP")),
    Family("locale and time zone: text encoding, formatting and local time in notebook code",
           ("LANG", "LANGUAGE", "TZ"), ("LC_",)),
    Family("the Python the kernel runs: its import path (llf itself, in a checkout) and interpreter switches",
           ("PYTHONPATH", "PYTHONHOME", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONHASHSEED",
            "PYTHONWARNINGS", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "VIRTUAL_ENV", "CONDA_PREFIX")),
    Family("where Jupyter, IPython and matplotlib keep their files (paths only; JUPYTER_TOKEN is not one)",
           ("JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_CONFIG_PATH", "JUPYTER_RUNTIME_DIR",
            "JUPYTER_PLATFORM_DIRS", "IPYTHONDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
            "XDG_DATA_HOME", "XDG_RUNTIME_DIR")),
    Family("TLS trust: the CA bundle a site installs so HTTPS to its own services verifies",
           ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")),
    Family("the network path out, where the site has a proxy", _proxy("http_proxy", "https_proxy", "no_proxy",
                                                                       "all_proxy")),
    Family("thread pools and GPUs numeric libraries size themselves by (several kernels share a worker)",
           ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")),
    Family("the llf settings the SDK reads for the lake, the LLM and the vectors (SDK_SETTINGS)",
           tuple(setting.name for setting in SDK_SETTINGS)),
)

KERNEL_ENV_NAMES = frozenset(name for family in KERNEL_ENV_FAMILIES for name in family.names)
KERNEL_ENV_PREFIXES = tuple(prefix for family in KERNEL_ENV_FAMILIES for prefix in family.prefixes)


def kernel_environment(extra: Mapping[str, str], worker: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: the allowlisted variables of the worker's (`worker`, default this process's),
    then `extra` (the run context, the notebook role's DB URL, the Weaviate key), which always wins."""
    source = os.environ if worker is None else worker
    kept = {name: value for name, value in source.items() if _allowed(name)}
    return {**kept, **extra}


def _allowed(name: str) -> bool:
    return name in KERNEL_ENV_NAMES or name.startswith(KERNEL_ENV_PREFIXES)
