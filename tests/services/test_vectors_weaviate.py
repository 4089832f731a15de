"""The Weaviate store through the real weaviate-client v4 (REST + gRPC) against the stand-in, texts embedded
through the Ollama stand-in."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from llf.exceptions import ConfigurationError
from llf.services.vectors import VectorDimensionError, object_id, open_vectors
from llf.services.vectors.weaviate import VectorImportError
from tests.support.standins.fake_embeddings import embed_text
from tests.support.standins.ollama_server import OllamaStandin
from tests.support.standins.weaviate_server import WeaviateStandin, weaviate_server


@pytest.fixture
def weaviate_standin(ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch) -> Iterator[WeaviateStandin]:
    """The stand-in, with LLF_VECTOR_URL pointing at it and no API key."""
    monkeypatch.delenv("LLF_WEAVIATE_API_KEY", raising=False)
    with weaviate_server() as server:
        monkeypatch.setenv("LLF_VECTOR_URL", server.url)
        yield server


@pytest.fixture
def store(weaviate_standin: WeaviateStandin):
    return open_vectors("products")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_given_a_new_collection_when_first_upserted_then_it_is_created_with_own_vectors_and_its_dimension(
    store, weaviate_standin: WeaviateStandin
) -> None:
    assert store.count() == 0

    store.upsert(["red shoes"])

    schema = weaviate_standin.state.schemas["Products"]
    assert schema["vectorConfig"]["default"]["vectorizer"] == {"none": {}}
    assert schema["description"] == f"llf vector collection products ({len(embed_text('x'))} dimensions)"
    assert {"name": "text", "dataType": ["text"]}.items() <= schema["properties"][0].items()


def test_given_a_batch_with_one_rejected_object_when_upserted_then_the_error_lists_it_and_the_rest_land(
    store,
) -> None:
    store.upsert([{"id": "a", "text": "first edition", "metadata": {"year": 2020}}])

    with pytest.raises(VectorImportError) as raised:
        store.upsert(
            [
                {"id": "b", "text": "second edition", "metadata": {"year": 2021}},
                {"id": "c", "text": "third edition", "metadata": {"year": "twenty-two"}},
                {"id": "d", "text": "fourth edition", "metadata": {"year": 2023}},
            ]
        )

    ((failed_id, message),) = raised.value.failed
    assert failed_id == object_id("products", "c")
    assert "year" in message and "twenty-two" in message
    assert failed_id in str(raised.value) and "1 of 3" in str(raised.value)
    assert store.count() == 3


def test_given_a_batch_where_every_object_is_rejected_when_upserted_then_the_error_lists_them_all(store) -> None:
    store.upsert([{"id": "a", "text": "first edition", "metadata": {"year": 2020}}])

    with pytest.raises(VectorImportError, match="2 of 2") as raised:
        store.upsert([{"id": key, "text": key, "metadata": {"year": key}} for key in ("b", "c")])

    assert [key for key, _ in raised.value.failed] == [object_id("products", key) for key in ("b", "c")]
    assert all("year" in message for _, message in raised.value.failed)


def test_given_items_when_upserted_twice_then_ids_are_deterministic_and_nothing_duplicates(store) -> None:
    items = [{"id": "sku-1", "text": "red shoes", "metadata": {"color": "red"}}, "blue shirt"]

    first = store.upsert(items)
    second = store.upsert(items)

    assert first == second == [object_id("products", "sku-1"), object_id("products", "blue shirt")]
    assert store.count() == 2


def test_given_vectors_when_searched_by_vector_then_hits_come_nearest_first(store) -> None:
    store.upsert(
        [
            {"id": "far", "vector": [0.0, 1.0, 0.0]},
            {"id": "near", "vector": [1.0, 0.1, 0.0], "metadata": {"rank": "second"}},
            {"id": "same", "vector": [1.0, 0.0, 0.0], "metadata": {"rank": "first"}},
        ]
    )

    hits = store.search([1.0, 0.0, 0.0], k=3)

    assert [hit.id for hit in hits] == [object_id("products", key) for key in ("same", "near", "far")]
    assert hits[0].score == pytest.approx(1.0) and hits[0].metadata == {"rank": "first"}
    assert hits[0].score > hits[1].score > hits[2].score


@pytest.mark.parametrize(("alpha", "first"), [("0", "b"), ("1", "a")])
def test_given_a_text_query_when_searched_then_hybrid_search_weighs_keywords_against_vectors_by_alpha(
    weaviate_standin: WeaviateStandin, alpha: str, first: str
) -> None:
    store = open_vectors("products", url=f"{weaviate_standin.url}&alpha={alpha}")
    store.upsert(  # each text sits on the other's vector: keywords and vectors disagree on purpose
        [
            {"id": "a", "text": "espresso coffee beans", "vector": embed_text("red running shoes")},
            {"id": "b", "text": "red running shoes", "vector": embed_text("espresso coffee beans")},
        ]
    )

    hits = store.search("red running shoes", k=2)

    assert hits[0].id == object_id("products", first)
    assert weaviate_standin.state.grpc_calls["Search"] == 1


def test_given_metadata_filters_when_searched_then_only_matching_items_return(store) -> None:
    store.upsert(
        [
            {"id": "a", "text": "red running shoes", "metadata": {"kind": "shoe"}},
            {"id": "b", "text": "red coffee mug", "metadata": {"kind": "mug"}},
        ]
    )

    by_vector = store.search(embed_text("red running shoes"), k=5, filters={"kind": "mug"})
    by_text = store.search("red running shoes", k=5, filters={"kind": "mug"})

    assert [hit.text for hit in by_vector] == [hit.text for hit in by_text] == ["red coffee mug"]


def test_given_items_when_deleted_by_id_filter_or_everything_then_they_are_gone(store) -> None:
    store.upsert(
        [
            {"id": "a", "text": "one", "metadata": {"batch": 1}},
            {"id": "b", "text": "two", "metadata": {"batch": 2}},
            {"id": "c", "text": "three", "metadata": {"batch": 2}},
            {"id": "d", "text": "four", "metadata": {"batch": 3}},
        ]
    )

    assert store.delete(ids=["a"]) == 1
    assert store.delete(filters={"batch": 2}) == 2
    assert store.delete(filters={}) == 1
    assert store.count() == 0
    with pytest.raises(ValueError, match="ids or filters"):
        store.delete()


def test_given_a_vector_of_the_wrong_dimension_when_upserted_or_searched_then_the_error_names_the_setting(
    store,
) -> None:
    store.upsert(["first text"])

    with pytest.raises(VectorDimensionError, match="LLF_EMBED_MODEL"):
        store.upsert([{"id": "x", "vector": [0.1, 0.2, 0.3]}])
    with pytest.raises(VectorDimensionError, match="products"):
        store.search([0.1, 0.2, 0.3])


def test_given_no_server_when_used_then_the_error_names_llf_vector_url(ollama: OllamaStandin) -> None:
    store = open_vectors("products", url=f"weaviate://127.0.0.1:{_free_port()}?grpc_port={_free_port()}")

    with pytest.raises(ConfigurationError, match="LLF_VECTOR_URL"):
        store.count()


def test_given_rest_up_but_the_grpc_port_wrong_when_used_then_the_error_names_the_grpc_port(
    weaviate_standin: WeaviateStandin,
) -> None:
    port = _free_port()
    store = open_vectors("products", url=weaviate_standin.url.split("?")[0] + f"?grpc_port={port}")

    with pytest.raises(ConfigurationError, match=f"LLF_VECTOR_URL.*gRPC port {port}"):
        store.count()


def test_given_an_api_key_when_set_or_wrong_then_it_is_sent_or_the_error_names_llf_weaviate_api_key(
    ollama: OllamaStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    with weaviate_server(api_key="s3cret") as server:
        monkeypatch.setenv("LLF_WEAVIATE_API_KEY", "s3cret")
        open_vectors("products", url=server.url).upsert(["red shoes"])
        monkeypatch.setenv("LLF_WEAVIATE_API_KEY", "wrong")

        with pytest.raises(ConfigurationError, match="LLF_WEAVIATE_API_KEY"):
            open_vectors("products", url=server.url).count()
