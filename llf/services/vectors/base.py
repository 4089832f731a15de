"""What every vector backend shares: items, hits, deterministic ids and the interface."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field, model_validator

from llf.exceptions import LlfError

ID_NAMESPACE = uuid.UUID("5b0c51c4-3c7e-4a39-9f59-2b4f3f2f6c11")


class VectorDimensionError(LlfError, ValueError):
    """A vector's length differs from the collection's; the message names the collection and the setting."""


class VectorItem(BaseModel):
    """One object to store: a text and/or a vector, metadata, and an optional natural key `id`."""

    id: str | None = None
    text: str | None = None
    vector: list[float] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_content(self) -> VectorItem:
        if self.text is None and self.vector is None:
            raise ValueError("a vector item needs a text, a vector, or both")
        if self.id is None and self.text is None:
            raise ValueError("an item with only a vector needs an id (so reruns do not duplicate it)")
        return self

    @property
    def key(self) -> str:
        """What its object id is made from: the natural key, else the text (_has_content sees one is there)."""
        key = self.id or self.text
        assert key is not None, "an item without id and text"
        return key

    @property
    def embedding(self) -> list[float]:
        """The vector, once embed_missing gave every item one."""
        assert self.vector is not None, "an item not embedded yet"
        return self.vector

    @property
    def text_to_embed(self) -> str:
        """The text of an item without a vector (_has_content sees it has one)."""
        assert self.text is not None, "an item without text and vector"
        return self.text


class Hit(BaseModel):
    """One search result; `score` is higher for closer (cosine similarity for pgvector)."""

    id: str
    text: str | None
    metadata: dict[str, Any]
    score: float


def object_id(collection: str, key: str) -> str:
    """The deterministic uuid5 of an item (its `id`, else its text): a rerun overwrites, never duplicates."""
    try:
        return str(uuid.UUID(key))  # already a uuid: keep it
    except ValueError:
        return str(uuid.uuid5(ID_NAMESPACE, f"{collection}\x1f{key}"))


def as_items(items: Iterable[VectorItem | dict[str, Any] | str]) -> list[VectorItem]:
    """Items from VectorItem objects, dicts, or plain texts."""
    return [
        item
        if isinstance(item, VectorItem)
        else VectorItem(text=item)
        if isinstance(item, str)
        else VectorItem(**item)
        for item in items
    ]


class VectorStore(Protocol):
    """One collection of one backend."""

    collection: str

    def upsert(self, items: Iterable[VectorItem | dict[str, Any] | str]) -> list[str]:
        """Store items (auto-embedding those without a vector); return their ids."""

    def search(
        self, query: str | Sequence[float], k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        """The k nearest items to a text (embedded; hybrid on Weaviate) or a vector, matching `filters`."""

    def delete(self, ids: Iterable[str] | None = None, filters: dict[str, Any] | None = None) -> int:
        """Delete by ids (natural keys or uuids) or by metadata equality filters; return how many went."""

    def count(self) -> int:
        """How many items the collection holds."""


def check_dimension(collection: str, expected: int | None, got: int) -> None:
    """Refuse a vector whose length differs from the collection's (None or 0: nothing to compare yet)."""
    if expected and expected != got:
        raise VectorDimensionError(
            f"Collection {collection!r} holds {expected}-dimension vectors, got {got}: embed with "
            f"the model the collection was built with (LLF_EMBED_MODEL) or use a new collection."
        )


def embed_missing(collection: str, items: list[VectorItem], embed: Callable[[list[str]], list[list[float]]]) -> int:
    """Give every item without a vector one (one embed call for all of them); return the common dimension."""
    missing = [item for item in items if item.vector is None]
    for item, vector in zip(missing, embed([item.text_to_embed for item in missing]) if missing else [], strict=True):
        item.vector = vector
    dimension = len(items[0].embedding)
    for item in items:
        check_dimension(collection, dimension, len(item.embedding))
    return dimension
