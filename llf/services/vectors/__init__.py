"""The vector store: one interface over pgvector (default, in the control DB) and Weaviate."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from llf.exceptions import ConfigurationError
from llf.services.vectors.base import Hit, VectorDimensionError, VectorItem, VectorStore, object_id
from llf.settings import VECTOR_URL

if TYPE_CHECKING:
    from llf.services.llm import LlmClient

_COLLECTION = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,50}$")

__all__ = ["Hit", "VectorDimensionError", "VectorItem", "VectorStore", "object_id", "open_vectors"]


def open_vectors(collection: str, url: str | None = None) -> VectorStore:
    """The collection in the store of `url`, else LLF_VECTOR_URL, else `pgvector` (the control DB).

    Texts are embedded with the LLM client's `embed` (LLF_EMBED_MODEL).
    """
    if not _COLLECTION.match(collection):
        raise ConfigurationError(
            f"Collection name {collection!r} is invalid: a letter, then letters, digits or _ (max 51)."
        )
    url = url or VECTOR_URL.value()
    embed = _lazy_embedder()
    if url == "pgvector" or url.startswith(("postgresql://", "postgres://")):
        from llf.services.control_store import configured_control_url
        from llf.services.vectors.pgvector import PgVectorStore

        database = configured_control_url() if url == "pgvector" else url
        if not database:
            raise ConfigurationError(
                f"{VECTOR_URL.name}=pgvector keeps vectors in the control DB; set LLF_CONTROL_DB_URL."
            )
        return PgVectorStore(database, collection, embed)
    if url.startswith("weaviate://"):
        from llf.services.vectors.weaviate import WeaviateStore

        return WeaviateStore(url, collection, embed)
    raise ConfigurationError(
        f"{VECTOR_URL.name}={url!r} is not a vector store: use pgvector, postgresql://..., or "
        "weaviate://host:port?grpc_port=50051."
    )


def _lazy_embedder() -> Callable[[list[str]], list[list[float]]]:
    """Embed through the LLM client, opened only when a text actually needs a vector."""
    client: LlmClient | None = None

    def embed(texts: list[str]) -> list[list[float]]:
        nonlocal client
        if client is None:
            from llf.services.llm import open_llm

            client = open_llm()
        return client.embed(texts)

    return embed
