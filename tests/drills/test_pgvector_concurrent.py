"""Drill: notebooks creating and filling the same pgvector collections at the same moment.

Each worker is a thread with connections of its own to the embedded PostgreSQL (psycopg2 releases the GIL
while a statement runs, so the sessions truly overlap). The database starts without pgvector's extension
and without the schema, so the first round races on those too. Without the creation lock, concurrent
CREATE ... IF NOT EXISTS fails on a duplicate key in the catalog; without id order, upserts of
overlapping ids in different orders deadlock (PostgreSQL aborts one of them). Both are errors here.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

from llf.services.vectors import open_vectors
from tests.support.standins.fake_embeddings import DIMENSION, embed_text

WORKERS = 6
ROUNDS = 3
UPSERTS_PER_WORKER = 3
IDS_PER_WORKER = 80
STRIDE = 20  # worker w writes ids w*STRIDE ... w*STRIDE+IDS_PER_WORKER-1: each overlaps its neighbours
WAIT_S = 180  # a hang (a lock never released) fails the drill instead of blocking the suite


def _items(worker: int, attempt: int) -> list[dict]:
    """This worker's ids, in an order of its own, with vectors given (no LLM needed)."""
    numbers = list(range(worker * STRIDE, worker * STRIDE + IDS_PER_WORKER))
    random.Random(f"{worker}/{attempt}").shuffle(numbers)
    return [{"id": f"item-{n}", "text": f"item {n} from worker {worker}", "vector": embed_text(f"item {n}"),
             "metadata": {"worker": worker}} for n in numbers]


def _run_workers(url: str, collection_of) -> list[BaseException | None]:
    """Start every worker at once (a barrier); each upserts its ids several times; return their errors."""
    start = threading.Barrier(WORKERS)

    def work(worker: int) -> None:
        store = open_vectors(collection_of(worker), url=url)
        start.wait(timeout=WAIT_S)
        for attempt in range(UPSERTS_PER_WORKER):
            store.upsert(_items(worker, attempt))

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(work, worker) for worker in range(WORKERS)]
        return [future.exception(timeout=WAIT_S) for future in futures]


def test_given_workers_racing_on_one_new_collection_when_they_upsert_overlapping_ids_then_all_succeed(
    control_db_url: str, sql
) -> None:
    expected = (WORKERS - 1) * STRIDE + IDS_PER_WORKER  # the union of every worker's ids

    for round_number in range(ROUNDS):
        collection = f"drill_{round_number}"
        errors = _run_workers(control_db_url, lambda worker, name=collection: name)

        assert errors == [None] * WORKERS, [repr(error) for error in errors if error]
        assert open_vectors(collection, url=control_db_url).count() == expected
        assert sql("SELECT count(*) FROM pg_indexes WHERE schemaname = 'llf_vectors' AND tablename = %s",
                   (collection,)) == [(2,)]  # the primary key and one HNSW index


def test_given_workers_creating_different_collections_at_once_when_the_schema_is_new_then_all_succeed(
    control_db_url: str, sql
) -> None:
    errors = _run_workers(control_db_url, lambda worker: f"own_{worker}")

    assert errors == [None] * WORKERS, [repr(error) for error in errors if error]
    assert sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'llf_vectors'") == [(WORKERS,)]
    for worker in range(WORKERS):
        assert open_vectors(f"own_{worker}", url=control_db_url).count() == IDS_PER_WORKER
    (dimension,) = sql("SELECT DISTINCT atttypmod FROM pg_attribute WHERE attname = 'embedding' "
                       "AND attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'llf_vectors'::regnamespace)")
    assert dimension == (DIMENSION,)
