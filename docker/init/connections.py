"""Write the Airflow connections of the stack as an `airflow connections import` JSON file.

Built from the environment (which compose fills from .env) so no secret is written in the repository,
and as JSON rather than command-line URIs so passwords need no URL quoting and stay out of `ps`.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import unquote, urlsplit


def _postgres(url: str, description: str) -> dict:
    parts = urlsplit(url)
    return {
        "conn_type": "postgres",
        "description": description,
        "host": parts.hostname,
        "port": parts.port or 5432,
        "login": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "schema": parts.path.lstrip("/"),
    }


def _http(url: str, description: str, password: str = "", **extra: object) -> dict:
    parts = urlsplit(url)
    return {
        "conn_type": "http",
        "description": description,
        "host": parts.hostname,
        "port": parts.port,
        "schema": parts.scheme if parts.scheme in ("http", "https") else "http",
        "password": password,
        "extra": json.dumps(extra) if extra else "",
    }


def connections(env: os._Environ[str] | dict[str, str]) -> dict[str, dict]:
    """The connection id -> fields map of the connections llf reads: the control DB (`cntl_af`, settings.
    control_db_url) and the vector store (`llf_vectors`, whose password settings.weaviate_api_key reads).

    No connection for the lake or the LLM: llf reads those from LLF_LAKE_URL / LLF_MINIO_* and OLLAMA_HOST /
    LLF_LLM_* in the components' environment, and a connection nobody reads would only be a second copy of
    the MinIO secret. Notebooks' database URL is not here either: LLF_NOTEBOOK_DB_URL is in that environment.
    """
    vector = urlsplit(env["LLF_VECTOR_URL"])
    return {
        "cntl_af": _postgres(env["LLF_CONTROL_DB_URL"], "llf control tables (schema cntl_af)"),
        # The API key as the password: llf's runner hands it to notebook kernels (LLF_WEAVIATE_API_KEY).
        "llf_vectors": _http(f"http://{vector.netloc}", "llf vector store (Weaviate)",
                             password=env.get("LLF_WEAVIATE_API_KEY", ""), vector_url=env["LLF_VECTOR_URL"]),
    }


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(connections(os.environ), out, indent=2)
