"""The pgvector store on the embedded PostgreSQL, texts embedded through the Ollama stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llf.exceptions import ConfigurationError
from llf.services.vectors import VectorDimensionError, VectorItem, open_vectors
from tests.support.standins.fake_embeddings import embed_text
from tests.support.standins.ollama_server import OllamaStandin

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "retrieval.json").read_text())


@pytest.fixture
def store(control_db_url: str, ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LLF_VECTOR_URL", raising=False)
    return open_vectors("products")


def test_given_items_when_upserted_twice_then_ids_are_deterministic_and_nothing_duplicates(store) -> None:
    items = [{"id": "sku-1", "text": "red shoes", "metadata": {"color": "red"}}, "blue shirt"]

    first = store.upsert(items)
    second = store.upsert(items)

    assert first == second
    assert store.count() == 2


def test_given_texts_when_searched_by_text_then_the_nearest_comes_first_with_metadata(store) -> None:
    store.upsert(
        [
            VectorItem(id="a", text="red running shoes", metadata={"kind": "shoe"}),
            VectorItem(id="b", text="espresso coffee beans", metadata={"kind": "coffee"}),
        ]
    )

    (best, other) = store.search("running shoes", k=2)

    assert (best.text, best.metadata) == ("red running shoes", {"kind": "shoe"})
    assert best.score > other.score


def test_given_metadata_filters_when_searched_then_only_matching_items_return(store) -> None:
    store.upsert(
        [
            {"id": "a", "text": "red running shoes", "metadata": {"kind": "shoe"}},
            {"id": "b", "text": "red coffee mug", "metadata": {"kind": "mug"}},
        ]
    )

    hits = store.search(embed_text("red running shoes"), k=5, filters={"kind": "mug"})

    assert [hit.text for hit in hits] == ["red coffee mug"]


def test_given_items_when_deleted_by_id_or_filter_then_they_are_gone(store) -> None:
    store.upsert(
        [
            {"id": "a", "text": "one", "metadata": {"batch": 1}},
            {"id": "b", "text": "two", "metadata": {"batch": 2}},
            {"id": "c", "text": "three", "metadata": {"batch": 2}},
        ]
    )

    assert store.delete(ids=["a"]) == 1
    assert store.delete(filters={"batch": 2}) == 2
    assert store.count() == 0


def test_given_a_vector_of_the_wrong_dimension_when_upserted_then_the_error_names_the_setting(store) -> None:
    store.upsert(["first text"])

    with pytest.raises(VectorDimensionError, match="LLF_EMBED_MODEL"):
        store.upsert([{"id": "x", "vector": [0.1, 0.2, 0.3]}])
    with pytest.raises(VectorDimensionError, match="products"):
        store.search([0.1, 0.2, 0.3])


def test_given_a_collection_when_created_then_an_hnsw_index_serves_it(store, sql) -> None:
    store.upsert(["anything"])

    (definition,) = sql(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'llf_vectors'"
        " AND tablename = 'products' AND indexdef LIKE '%hnsw%'"
    )[0]
    assert "vector_cosine_ops" in definition


def test_given_pgvector_without_control_db_when_opened_then_the_error_names_llf_control_db_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LLF_CONTROL_DB_URL", raising=False)

    with pytest.raises(ConfigurationError, match="LLF_CONTROL_DB_URL"):
        open_vectors("products", url="pgvector")


def test_given_an_unknown_url_when_opened_then_the_error_names_llf_vector_url() -> None:
    with pytest.raises(ConfigurationError, match="LLF_VECTOR_URL"):
        open_vectors("products", url="redis://nope")


def test_given_the_labelled_fixture_when_queried_then_recall_at_5_is_high(store) -> None:
    store.upsert(
        [
            {"id": doc["id"], "text": doc["text"], "metadata": {"topic": doc["topic"]}}
            for doc in FIXTURE["documents"]
        ]
    )

    recalls = []
    for query in FIXTURE["queries"]:
        relevant = [doc for doc in FIXTURE["documents"] if doc["topic"] == query["topic"]]
        top = store.search(query["text"], k=5)
        recalls.append(sum(hit.metadata["topic"] == query["topic"] for hit in top) / min(5, len(relevant)))
    recall_at_5 = sum(recalls) / len(recalls)
    print(f"recall@5 = {recall_at_5:.2f} over {len(recalls)} queries")
    assert recall_at_5 >= 0.6  # hashed bag-of-words embeddings: measured 0.73, far above chance (1/6)
