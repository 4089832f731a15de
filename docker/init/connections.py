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
    """The connection id -> fields map for the control DB, the lake, the vector store and the LLM.

    Notebooks' database URL is not among them: LLF_NOTEBOOK_DB_URL is in the environment of the components.
    """
    endpoint = env["LLF_MINIO_ENDPOINT"]
    vector = urlsplit(env["LLF_VECTOR_URL"])
    return {
        "cntl_af": _postgres(env["LLF_CONTROL_DB_URL"], "llf control tables (schema cntl_af)"),
        "llf_lake": {
            "conn_type": "aws",
            "description": "llf data lake on MinIO (S3 API)",
            "login": env["LLF_MINIO_ACCESS_KEY"],
            "password": env["LLF_MINIO_SECRET_KEY"],
            "extra": json.dumps({"endpoint_url": f"http://{endpoint}", "lake_url": env["LLF_LAKE_URL"]}),
        },
        # The API key as the password: llf's runner hands it to notebook kernels (LLF_WEAVIATE_API_KEY).
        "llf_vectors": _http(f"http://{vector.netloc}", "llf vector store (Weaviate)",
                             password=env.get("LLF_WEAVIATE_API_KEY", ""), vector_url=env["LLF_VECTOR_URL"]),
        "llf_llm": _http(env["OLLAMA_HOST"], "llf LLM (Ollama)", model=env["LLF_LLM_MODEL"],
                         embed_model=env["LLF_EMBED_MODEL"]),
    }


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(connections(os.environ), out, indent=2)
