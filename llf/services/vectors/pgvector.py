"""Vectors in PostgreSQL with pgvector (the embedded default): one table per collection, HNSW cosine index.

Tables live in schema `llf_vectors`; a collection's dimension is fixed by its first upsert.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extras import Json, execute_values

from llf.db import connect, redact
from llf.exceptions import ConfigurationError
from llf.services.vectors.base import (
    Hit,
    VectorItem,
    as_items,
    check_dimension,
    embed_missing,
    object_id,
)

SCHEMA = "llf_vectors"
Embedder = Callable[[list[str]], list[list[float]]]


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


class PgVectorStore:
    """A collection is table llf_vectors.<collection>: id uuid, text, metadata jsonb, embedding vector(d)."""

    def __init__(self, url: str, collection: str, embed: Embedder) -> None:
        self.url = url
        self.collection = collection
        self.embed = embed
        self.table = sql.Identifier(SCHEMA, collection)

    def _run(self, statement: sql.Composable | str, parameters: Any = None, *, many: list | None = None):
        connection = connect(self.url)
        try:
            with connection, connection.cursor() as cursor:
                if many is not None:
                    execute_values(cursor, statement, many)
                else:
                    cursor.execute(statement, parameters)
                return cursor.fetchall() if cursor.description else cursor.rowcount
        except psycopg2.errors.FeatureNotSupported as error:
            raise ConfigurationError(f"{redact(self.url)} (LLF_VECTOR_URL): {error}") from error
        except psycopg2.errors.UndefinedFile as error:
            raise ConfigurationError(
                f"pgvector is not installed in {redact(self.url)} (LLF_VECTOR_URL): {error}"
            ) from error
        finally:
            connection.close()

    def _dimension(self) -> int | None:
        rows = self._run(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'embedding'",
            (f'{SCHEMA}."{self.collection}"',),
        )
        return rows[0][0] if rows else None

    def _ensure_table(self, dimension: int) -> None:
        existing = self._dimension()
        if existing is None:
            index = sql.Identifier(f"{self.collection}_hnsw"[:63])
            self._run(
                sql.SQL(
                    "CREATE EXTENSION IF NOT EXISTS vector;"
                    " CREATE SCHEMA IF NOT EXISTS {schema};"
                    " CREATE TABLE IF NOT EXISTS {table} (id uuid PRIMARY KEY, text text,"
                    " metadata jsonb NOT NULL DEFAULT '{{}}', embedding vector({dim}) NOT NULL);"
                    " CREATE INDEX IF NOT EXISTS {index} ON {table} USING hnsw (embedding vector_cosine_ops);"
                    " COMMENT ON TABLE {table} IS {comment}"
                ).format(
                    schema=sql.Identifier(SCHEMA),
                    table=self.table,
                    dim=sql.Literal(dimension),
                    index=index,
                    comment=sql.Literal(f"llf vector collection {self.collection} ({dimension} dimensions)"),
                )
            )
            return
        check_dimension(self.collection, existing, dimension)

    def upsert(self, items: Iterable[VectorItem | dict[str, Any] | str]) -> list[str]:
        items = as_items(items)
        if not items:
            return []
        dimension = embed_missing(self.collection, items, self.embed)
        self._ensure_table(dimension)
        rows = {object_id(self.collection, item.id or item.text): item for item in items}  # last one wins
        self._run(
            sql.SQL(
                "INSERT INTO {table} (id, text, metadata, embedding) VALUES %s ON CONFLICT (id) DO UPDATE"
                " SET text = EXCLUDED.text, metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding"
            ).format(table=self.table),
            many=[(key, item.text, Json(item.metadata), _literal(item.vector)) for key, item in rows.items()],
        )
        return [object_id(self.collection, item.id or item.text) for item in items]

    def search(
        self, query: str | Sequence[float], k: int = 5, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        vector = self.embed([query])[0] if isinstance(query, str) else list(query)
        dimension = self._dimension()
        if dimension is None:
            return []
        check_dimension(self.collection, dimension, len(vector))
        rows = self._run(
            sql.SQL(
                "SELECT id::text, text, metadata, 1 - (embedding <=> %s::vector) FROM {table}"
                " WHERE metadata @> %s::jsonb ORDER BY embedding <=> %s::vector LIMIT %s"
            ).format(table=self.table),
            (_literal(vector), json.dumps(filters or {}), _literal(vector), k),
        )
        return [Hit(id=row[0], text=row[1], metadata=row[2], score=float(row[3])) for row in rows]

    def delete(self, ids: Iterable[str] | None = None, filters: dict[str, Any] | None = None) -> int:
        if self._dimension() is None:
            return 0
        if ids is not None:
            keys = [object_id(self.collection, key) for key in ids]
            statement = sql.SQL("DELETE FROM {table} WHERE id = ANY(%s::uuid[])")
            return self._run(statement.format(table=self.table), (keys,))
        if filters:
            statement = sql.SQL("DELETE FROM {table} WHERE metadata @> %s::jsonb")
            return self._run(statement.format(table=self.table), (json.dumps(filters),))
        raise ValueError("delete() needs ids or filters; to empty a collection pass filters={} explicitly.")

    def count(self) -> int:
        if self._dimension() is None:
            return 0
        return self._run(sql.SQL("SELECT count(*) FROM {table}").format(table=self.table))[0][0]
