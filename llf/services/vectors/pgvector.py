"""Vectors in PostgreSQL with pgvector (the embedded default): one table per collection, HNSW cosine index.

Tables live in schema `llf_vectors`; a collection's dimension is fixed by its first upsert. Several notebooks
may create and fill one collection at the same moment: creation takes turns on an advisory lock, and every
upsert writes its rows in id order, so concurrent upserts of overlapping ids queue instead of deadlocking.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import Json, execute_values

from llf.db import connect, one_row
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

SCHEMA = "llf_vectors"
Embedder = Callable[[list[str]], list[list[float]]]


class CollectionRefused(LlfError, PermissionError):
    """The collection's table belongs to another stream: a stream's notebooks own the collections they create
    (llf/control/sql/0031_stream_logins.sql), and no other stream may read, write or drop them."""

# Creators take turns on a transaction-scoped advisory lock with one 64-bit key: hashtextextended of what is
# created, seeded with the namespace 'llf.vectors.ddl', as llf.control.lock seeds its run locks with
# 'llf.process-run'; so it meets only the creators of the same schema or collection. (The two-integer locks
# of llf.control.log are a separate key space.) Released at commit, or when the session dies.
DDL_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, hashtextextended('llf.vectors.ddl', 0)))"


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


class PgVectorStore:
    """A collection is table llf_vectors.<collection>: id uuid, text, metadata jsonb, embedding vector(d)."""

    def __init__(self, url: str, collection: str, embed: Embedder) -> None:
        self.url = url
        self.collection = collection
        self.embed = embed
        self.table = sql.Identifier(SCHEMA, collection)

    @contextmanager
    def _cursor(self) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor in one transaction on a connection of its own; pgvector setup errors name the setting."""
        connection = connect(self.url)
        try:
            with connection, connection.cursor() as cursor:
                yield cursor
        except psycopg2.errors.FeatureNotSupported as error:
            raise ConfigurationError(f"{redact(self.url)} (LLF_VECTOR_URL): {error}") from error
        except psycopg2.errors.InsufficientPrivilege as error:
            raise CollectionRefused(
                f"collection {self.collection!r} is not this stream's: {SCHEMA}.{self.collection} belongs to the "
                f"stream whose notebook created it ({str(error).strip().splitlines()[0]}); name another collection"
            ) from error
        except psycopg2.errors.UndefinedFile as error:
            raise ConfigurationError(
                f"pgvector is not installed in {redact(self.url)} (LLF_VECTOR_URL): {error}"
            ) from error
        finally:
            connection.close()

    def _run(self, statement: sql.Composable | str, parameters: Any = None, *, many: list | None = None) -> Any:
        with self._cursor() as cursor:
            if many is not None:
                execute_values(cursor, statement, many)
            else:
                cursor.execute(statement, parameters)
            return cursor.fetchall() if cursor.description else cursor.rowcount

    def _dimension(self) -> int | None:
        rows = self._run(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'embedding'",
            (f'{SCHEMA}."{self.collection}"',),
        )
        return rows[0][0] if rows else None

    def _ensure_table(self, dimension: int) -> None:
        """The collection's table with its HNSW index, created by whichever caller comes first.

        CREATE ... IF NOT EXISTS does not guard against itself: two sessions both see no table, and the
        second fails on a duplicate key in pg_type (pg_namespace for the schema, pg_extension for pgvector).
        So creators take turns on an advisory lock held until their commit; the next one then finds the
        table (each statement reads the catalog afresh) and only checks the dimension it was made with.
        """
        existing = self._dimension()
        if existing is None:
            self._create_schema()
            self._create_table(dimension)
            existing = self._dimension()
        check_dimension(self.collection, existing, dimension)

    def _create_schema(self) -> None:
        """pgvector and the schema, under a lock shared by every collection (they all need both)."""
        with self._cursor() as cursor:
            cursor.execute(DDL_LOCK_SQL, (f"schema|{SCHEMA}",))
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
            # CREATE SCHEMA checks the right to create schemas in the database even when the schema exists,
            # and the notebook role has none: it only creates tables in the schema the migrations made.
            cursor.execute("SELECT to_regnamespace(%s) IS NULL", (SCHEMA,))
            if one_row(cursor)[0]:
                cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))

    def _create_table(self, dimension: int) -> None:
        """The table and its index, under a lock of this collection only: others are created meanwhile."""
        index = sql.Identifier(f"{self.collection}_hnsw"[:63])
        with self._cursor() as cursor:
            cursor.execute(DDL_LOCK_SQL, (f"collection|{SCHEMA}.{self.collection}",))
            cursor.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {table} (id uuid PRIMARY KEY, text text,"
                    " metadata jsonb NOT NULL DEFAULT '{{}}', embedding vector({dim}) NOT NULL)"
                ).format(table=self.table, dim=sql.Literal(dimension))
            )
            cursor.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {index} ON {table} USING hnsw (embedding vector_cosine_ops)")
                .format(index=index, table=self.table)
            )
            cursor.execute(
                sql.SQL("COMMENT ON TABLE {table} IS {comment}").format(
                    table=self.table,
                    comment=sql.Literal(f"llf vector collection {self.collection} ({dimension} dimensions)"),
                )
            )

    def upsert(self, items: Iterable[VectorItem | dict[str, Any] | str]) -> list[str]:
        items = as_items(items)
        if not items:
            return []
        dimension = embed_missing(self.collection, items, self.embed)
        self._ensure_table(dimension)
        rows = {object_id(self.collection, item.key): item for item in items}  # last one wins
        # Rows go in id order: two upserts of overlapping ids then lock them in the same order, so one waits
        # for the other instead of each holding a row the other needs (a deadlock PostgreSQL aborts).
        self._run(
            sql.SQL(
                "INSERT INTO {table} (id, text, metadata, embedding) VALUES %s ON CONFLICT (id) DO UPDATE"
                " SET text = EXCLUDED.text, metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding"
            ).format(table=self.table),
            many=[(key, item.text, Json(item.metadata), _literal(item.embedding))
                  for key, item in sorted(rows.items())],
        )
        return [object_id(self.collection, item.key) for item in items]

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
