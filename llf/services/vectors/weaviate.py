"""Vectors in Weaviate through weaviate-client v4 (REST for the schema, gRPC for data): llf brings its own
vectors (no vectorizer), ids are the same uuid5 as pgvector's, and a text query runs a hybrid search.

LLF_VECTOR_URL=weaviate://host:8080?grpc_port=50051 (optional `secure=true`, `alpha=0.7` for hybrid
search); LLF_WEAVIATE_API_KEY when the server requires an API key. The item text is property `text`;
metadata keys become top-level properties (Weaviate's auto-schema types them), so filters use them directly.
A collection's dimension is recorded in its description when the first upsert creates it.

In a run, a collection is its stream's: the runner sets LLF_VECTOR_PREFIX (`LlfS<stream id>_`) and hands the kernel
a key whose Weaviate role reaches the classes of that prefix only (llf.services.vectors.weaviate_users), so
`nb.vectors("items")` is class `LlfS12_Items` in stream 12. In plain Jupyter there is no prefix: class `Items`.
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
    InsufficientPermissionsError,
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
from llf.settings import VECTOR_PREFIX, WEAVIATE_API_KEY

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


@contextmanager
def connected(url: str, api_key: str | None) -> Iterator[weaviate.WeaviateClient]:
    """A client of the Weaviate at `url` (a weaviate:// URL) with `api_key`, closed on leaving.

    Init checks are skipped (they phone PyPI); is_live() pings REST and gRPC instead. A key Weaviate does not know
    (401) is a ConfigurationError naming LLF_WEAVIATE_API_KEY; a known key refused an action (403,
    InsufficientPermissionsError) goes up as it is, for the caller to say what was refused.
    """
    parts = urlsplit(url)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host, port, grpc_port = parts.hostname or "localhost", parts.port or 8080, int(options.get("grpc_port", 50051))
    secure = options.get("secure", "false").lower() == "true"
    where = f"LLF_VECTOR_URL={redact(url)!r} (REST port {port}, gRPC port {grpc_port})"
    try:
        client = weaviate.connect_to_custom(
            http_host=host, http_port=port, http_secure=secure, grpc_host=host, grpc_port=grpc_port,
            grpc_secure=secure, auth_credentials=Auth.api_key(api_key) if api_key else None, skip_init_checks=True,
            additional_config=AdditionalConfig(timeout=Timeout(init=5, query=60, insert=120)),
        )
    except (WeaviateStartUpError, WeaviateConnectionError) as error:
        raise ConfigurationError(f"Weaviate is not reachable at {where}: {error}") from error
    try:
        if not client.is_live():
            raise ConfigurationError(f"Weaviate does not answer on REST and gRPC at {where}.")
        yield client
    except UnexpectedStatusCodeError as error:
        if error.status_code != 401 or isinstance(error, InsufficientPermissionsError):
            raise
        raise ConfigurationError(
            f"Weaviate at {where} refused the credentials: set {WEAVIATE_API_KEY.name} to a valid API key."
        ) from error
    finally:
        client.close()


class WeaviateStore:
    """A collection is Weaviate class <prefix><Collection> (first letter upper-cased, as Weaviate requires; the
    prefix is the stream's in a run, LLF_VECTOR_PREFIX, and none in plain Jupyter)."""

    def __init__(self, url: str, collection: str, embed: Embedder) -> None:
        options = {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}
        self.url = url
        self.collection = collection
        self.embed = embed
        self.name = (VECTOR_PREFIX.read() or "") + collection[0].upper() + collection[1:]
        self.alpha = float(options.get("alpha", 0.7))

    @contextmanager
    def _client(self) -> Iterator[weaviate.WeaviateClient]:
        """A connected client, closed after one operation (as pgvector holds a connection per call), with the
        kernel's key (the runner resolved it: llf.runner.vector_key). A refusal names the class and the key's reach."""
        try:
            with connected(self.url, WEAVIATE_API_KEY.read()) as client:
                yield client
        except InsufficientPermissionsError as refused:
            raise ConfigurationError(
                f"Weaviate refused collection {self.collection!r} (class {self.name}) to this key: {refused.message}. "
                f"In a run, a notebook's {WEAVIATE_API_KEY.name} reaches its stream's classes "
                f"({VECTOR_PREFIX.read() or 'no prefix'}*) only."
            ) from refused

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
