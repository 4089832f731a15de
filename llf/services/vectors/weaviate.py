"""Vectors in Weaviate through weaviate-client v4 (REST for the schema, gRPC for data): llf brings its own
vectors (no vectorizer), ids are the same uuid5 as pgvector's, and a text query runs a hybrid search.

LLF_VECTOR_URL=weaviate://host:8080?grpc_port=50051 (optional `secure=true`, `alpha=0.7` for hybrid
search); LLF_WEAVIATE_API_KEY when the server requires an API key. The item text is property `text`;
metadata keys become top-level properties (Weaviate's auto-schema types them), so filters use them directly.
A collection's dimension is recorded in its description when the first upsert creates it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.collections import Collection
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateConnectionError,
    WeaviateInsertManyAllFailedError,
    WeaviateStartUpError,
)

if TYPE_CHECKING:
    from weaviate.collections.classes.filters import _Filters  # what Filter's methods return; not exported

from llf.exceptions import ConfigurationError, LlfError
from llf.secrets import redact
from llf.services.vectors.base import (
    Hit,
    VectorItem,
    as_items,
    check_dimension,
    embed_missing,
    object_id,
)
from llf.settings import WEAVIATE_API_KEY

TEXT = "text"
VECTOR = "default"
BATCH_SIZE = 500
_DIMENSIONS = re.compile(r"\((\d+) dimensions\)")
Embedder = Callable[[list[str]], list[list[float]]]


class VectorImportError(LlfError):
    """Weaviate rejected some objects of a batch; `failed` lists (uuid, error) so none is silently lost."""

    def __init__(self, message: str, failed: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.failed = failed


class WeaviateStore:
    """A collection is Weaviate class <Collection> (first letter upper-cased, as Weaviate requires)."""

    def __init__(self, url: str, collection: str, embed: Embedder) -> None:
        parts = urlsplit(url)
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.url = url
        self.collection = collection
        self.embed = embed
        self.name = collection[0].upper() + collection[1:]
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 8080
        self.grpc_port = int(options.get("grpc_port", 50051))
        self.secure = options.get("secure", "false").lower() == "true"
        self.alpha = float(options.get("alpha", 0.7))

    @contextmanager
    def _client(self) -> Iterator[weaviate.WeaviateClient]:
        """A connected client, closed after one operation (as pgvector holds a connection per call).

        Init checks are skipped (they phone PyPI); is_live() pings REST and gRPC instead.
        """
        api_key = WEAVIATE_API_KEY.read()  # the kernel's: the runner resolved it (llf.settings.weaviate_api_key)
        where = f"LLF_VECTOR_URL={redact(self.url)!r} (REST port {self.port}, gRPC port {self.grpc_port})"
        try:
            client = weaviate.connect_to_custom(
                http_host=self.host,
                http_port=self.port,
                http_secure=self.secure,
                grpc_host=self.host,
                grpc_port=self.grpc_port,
                grpc_secure=self.secure,
                auth_credentials=Auth.api_key(api_key) if api_key else None,
                skip_init_checks=True,
                additional_config=AdditionalConfig(timeout=Timeout(init=5, query=60, insert=120)),
            )
        except (WeaviateStartUpError, WeaviateConnectionError) as error:
            raise ConfigurationError(f"Weaviate is not reachable at {where}: {error}") from error
        try:
            if not client.is_live():
                raise ConfigurationError(f"Weaviate does not answer on REST and gRPC at {where}.")
            yield client
        except UnexpectedStatusCodeError as error:
            if error.status_code not in (401, 403):
                raise
            raise ConfigurationError(
                f"Weaviate at {where} refused the credentials: set {WEAVIATE_API_KEY.name} to a valid API key."
            ) from error
        finally:
            client.close()

    def _dimension(self, client: weaviate.WeaviateClient) -> int | None:
        """The collection's dimension from its description; None if it does not exist yet."""
        if not client.collections.exists(self.name):
            return None
        found = _DIMENSIONS.search(client.collections.use(self.name).config.get(simple=True).description or "")
        return int(found.group(1)) if found else 0  # 0: created outside llf, Weaviate checks lengths

    def _collection(self, client: weaviate.WeaviateClient, dimension: int) -> Collection:
        """The collection, created on first use with self-provided vectors and its dimension recorded."""
        existing = self._dimension(client)
        if existing is None:
            return client.collections.create(
                self.name,
                description=f"llf vector collection {self.collection} ({dimension} dimensions)",
                vector_config=Configure.Vectors.self_provided(name=VECTOR),
                properties=[Property(name=TEXT, data_type=DataType.TEXT)],
            )
        check_dimension(self.collection, existing, dimension)
        return client.collections.use(self.name)

    def upsert(self, items: Iterable[VectorItem | dict[str, Any] | str]) -> list[str]:
        items = as_items(items)
        if not items:
            return []
        for item in items:
            if TEXT in item.metadata:
                raise ValueError(f"metadata key {TEXT!r} is reserved for the item text on Weaviate")
        dimension = embed_missing(self.collection, items, self.embed)
        keys = [object_id(self.collection, item.key) for item in items]
        objects = {  # last one wins, as in pgvector
            key: DataObject(
                properties={
                    name: value for name, value in {TEXT: item.text, **item.metadata}.items() if value is not None
                },
                uuid=key,
                vector={VECTOR: [float(value) for value in item.embedding]},
            )
            for key, item in zip(keys, items, strict=True)
        }
        failed: list[tuple[str, str]] = []
        with self._client() as client:
            collection = self._collection(client, dimension)
            values = list(objects.values())
            for start in range(0, len(values), BATCH_SIZE):
                chunk = values[start : start + BATCH_SIZE]
                try:
                    result = collection.data.insert_many(chunk)
                except WeaviateInsertManyAllFailedError as error:  # the client then keeps only the messages
                    failed += [(str(obj.uuid), str(error)) for obj in chunk]
                    continue
                failed += [(str(chunk[index].uuid), error.message) for index, error in result.errors.items()]
        if failed:
            listing = "; ".join(f"{key}: {message}" for key, message in failed)
            raise VectorImportError(
                f"Weaviate rejected {len(failed)} of {len(objects)} objects in collection "
                f"{self.collection!r}: {listing}",
                failed,
            )
        return keys

    def search(self, query: str | Sequence[float], k: int = 5, filters: dict[str, Any] | None = None) -> list[Hit]:
        vector = [float(value) for value in (self.embed([query])[0] if isinstance(query, str) else query)]
        with self._client() as client:
            dimension = self._dimension(client)
            if dimension is None:
                return []
            check_dimension(self.collection, dimension, len(vector))
            collection = client.collections.use(self.name)
            if isinstance(query, str):
                result = collection.query.hybrid(
                    query=query,
                    vector=vector,
                    alpha=self.alpha,
                    limit=k,
                    filters=_where(filters),
                    target_vector=VECTOR,
                    return_metadata=MetadataQuery(score=True),
                )
                scores = [_asked(obj.metadata.score) for obj in result.objects]
            else:
                result = collection.query.near_vector(
                    near_vector=vector,
                    limit=k,
                    filters=_where(filters),
                    target_vector=VECTOR,
                    return_metadata=MetadataQuery(distance=True),
                )
                scores = [1 - _asked(obj.metadata.distance) for obj in result.objects]
        return [
            Hit(
                id=str(obj.uuid),
                # The SDK types a property as any Weaviate value; TEXT is the text llf wrote, and Hit checks it.
                text=obj.properties.get(TEXT),  # type: ignore[arg-type]
                metadata={key: value for key, value in obj.properties.items() if key != TEXT and value is not None},
                score=float(score),
            )
            for obj, score in zip(result.objects, scores, strict=True)
        ]

    def delete(self, ids: Iterable[str] | None = None, filters: dict[str, Any] | None = None) -> int:
        if ids is None and filters is None:
            raise ValueError("delete() needs ids or filters; to empty a collection pass filters={} explicitly.")
        with self._client() as client:
            if not client.collections.exists(self.name):
                return 0
            collection = client.collections.use(self.name)
            if ids is not None:
                keys = [object_id(self.collection, key) for key in ids]
                return collection.data.delete_many(where=Filter.by_id().contains_any(keys)).successful if keys else 0
            if not filters:  # everything: drop the class; the next upsert recreates it
                total = collection.aggregate.over_all(total_count=True).total_count or 0
                client.collections.delete(self.name)
                return total
            return collection.data.delete_many(where=_all_equal(filters)).successful

    def count(self) -> int:
        with self._client() as client:
            if not client.collections.exists(self.name):
                return 0
            return client.collections.use(self.name).aggregate.over_all(total_count=True).total_count or 0


def _asked(value: float | None) -> float:
    """A metadata value the query asked for (MetadataQuery): the SDK types every one as optional."""
    if value is None:
        raise LlfError("Weaviate left out the score or distance the search asked for.")
    return value


def _where(filters: dict[str, Any] | None) -> _Filters | None:
    """_all_equal of the filters; None (no filter) for none."""
    return _all_equal(filters) if filters else None


def _all_equal(filters: dict[str, Any]) -> _Filters:
    """Metadata equality filters, all of which must hold (like pgvector's `metadata @> filters`)."""
    return Filter.all_of([Filter.by_property(key).equal(value) for key, value in filters.items()])
