"""A stream's Weaviate key reaches its stream's classes and no others, enforced by Weaviate's RBAC (issue 26,
exploit 3): llf's root key makes the attempt's DB user and the stream's role through the real weaviate-client, and
what that key may do is what the stand-in lets through, REST and gRPC alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import weaviate
from weaviate.classes.query import Filter
from weaviate.exceptions import InsufficientPermissionsError, UnexpectedStatusCodeError

from llf.exceptions import ConfigurationError
from llf.services.vectors import open_vectors
from llf.services.vectors.weaviate import connected
from llf.services.vectors.weaviate_users import (
    attempt_users,
    delete_attempt_user,
    open_attempt_user,
    stream_prefix,
)
from tests.support.standins.weaviate_server import WeaviateStandin, weaviate_server

ROOT_KEY = "llf-root-key"
ITEMS = [{"id": "a", "text": "red shoes", "vector": [1.0, 0.0, 0.0]},
         {"id": "b", "text": "blue hat", "vector": [0.0, 1.0, 0.0]}]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[WeaviateStandin]:
    monkeypatch.setenv("LLF_VECTOR_URL", "weaviate://unused")  # each test opens its store with the server's URL
    with weaviate_server(api_key=ROOT_KEY) as standin:
        yield standin


def _key_for(server: WeaviateStandin, log_id: int, strem_id: int) -> str:
    with connected(server.url, ROOT_KEY) as root:
        return open_attempt_user(root, log_id, strem_id)


def _as_stream(monkeypatch: pytest.MonkeyPatch, key: str, strem_id: int) -> None:
    """What the runner hands a kernel of stream `strem_id`."""
    monkeypatch.setenv("LLF_WEAVIATE_API_KEY", key)
    monkeypatch.setenv("LLF_VECTOR_PREFIX", stream_prefix(strem_id))


def test_given_an_attempts_key_when_the_sdk_uses_its_collection_then_everything_works_under_the_stream_prefix(
    server, monkeypatch
):
    # given attempt 7 of stream 12 holding its own key
    _as_stream(monkeypatch, _key_for(server, 7, 12), 12)
    store = open_vectors("items", url=server.url)
    # when it upserts, searches, counts and empties its collection
    store.upsert(ITEMS)
    hits = store.search([1.0, 0.0, 0.0], k=1)
    # then it all works, on class LlfS12_Items
    assert [hit.text for hit in hits] == ["red shoes"]
    assert "LlfS12_Items" in server.state.schemas and store.count() == 2
    assert store.delete(filters={}) == 2 and "LlfS12_Items" not in server.state.schemas


@pytest.mark.parametrize("strem_id", [1, 2])  # stream 1: its role LlfS1_* must not reach LlfS12_*
def test_given_another_streams_key_when_it_reaches_for_the_collection_then_weaviate_refuses_every_route(
    server, monkeypatch, strem_id
):
    # given stream 12's collection with data, and another stream's attempt key
    _as_stream(monkeypatch, _key_for(server, 7, 12), 12)
    open_vectors("items", url=server.url).upsert(ITEMS)
    other = _key_for(server, 8, strem_id)
    # when that key goes at LlfS12_Items with the raw client, then each route is refused by Weaviate
    with connected(server.url, other) as client:
        victim = client.collections.use("LlfS12_Items")
        with pytest.raises(InsufficientPermissionsError):
            client.collections.exists("LlfS12_Items")
        with pytest.raises(InsufficientPermissionsError):
            victim.query.near_vector([1.0, 0.0, 0.0], limit=5)
        with pytest.raises(InsufficientPermissionsError):
            victim.aggregate.over_all(total_count=True)
        with pytest.raises(InsufficientPermissionsError):
            victim.data.insert_many([{"text": "planted"}])
        with pytest.raises(InsufficientPermissionsError):
            victim.data.delete_many(where=Filter.by_property("text").like("*"))
        with pytest.raises(InsufficientPermissionsError):
            client.collections.delete("LlfS12_Items")
        assert client.collections.list_all(simple=True) == {}  # the listing hides what it may not read
    # and the collection is as it was
    assert len(server.state.objects["LlfS12_Items"]) == 2


def test_given_another_streams_key_when_the_sdk_is_pointed_at_the_class_then_the_error_names_the_reach(
    server, monkeypatch
):
    _as_stream(monkeypatch, _key_for(server, 7, 12), 12)
    open_vectors("items", url=server.url).upsert(ITEMS)
    # stream 3's kernel, its prefix forged to stream 12's
    _as_stream(monkeypatch, _key_for(server, 9, 3), 12)
    with pytest.raises(ConfigurationError, match=r"refused collection 'items' \(class LlfS12_Items\)"):
        open_vectors("items", url=server.url).count()


def test_given_an_attempt_user_when_deleted_then_its_key_is_refused_and_the_listing_no_longer_names_it(server):
    key = _key_for(server, 7, 12)
    with connected(server.url, ROOT_KEY) as root:
        assert attempt_users(root) == [7]
        delete_attempt_user(root, 7)
        delete_attempt_user(root, 7)  # gone already: fine
        assert attempt_users(root) == []
    with pytest.raises(ConfigurationError, match="LLF_WEAVIATE_API_KEY"), connected(server.url, key) as client:
        client.collections.exists("LlfS12_Items")


def test_given_two_attempts_of_one_stream_then_each_has_its_own_key_and_the_role_is_made_once(server):
    first, second = _key_for(server, 7, 12), _key_for(server, 8, 12)
    assert first != second
    assert set(server.state.rbac.roles) == {"llf-stream-12"}
    assert {permission["action"] for permission in server.state.rbac.roles["llf-stream-12"]} == {
        "create_collections", "read_collections", "update_collections", "delete_collections",
        "create_data", "read_data", "update_data", "delete_data"}


def test_given_a_key_that_is_not_root_when_it_makes_a_user_then_weaviate_refuses(server):
    not_root = _key_for(server, 7, 12)
    with connected(server.url, not_root) as client, pytest.raises(InsufficientPermissionsError):
        open_attempt_user(client, 8, 12)


def test_given_rbac_off_when_a_user_is_made_then_weaviate_refuses() -> None:
    with (weaviate_server(api_key=ROOT_KEY, rbac=False) as server, connected(server.url, ROOT_KEY) as root,
          pytest.raises(UnexpectedStatusCodeError, match="422")):
        open_attempt_user(root, 7, 12)


def test_given_the_root_key_when_it_uses_any_class_then_it_is_allowed(server) -> None:
    with connected(server.url, ROOT_KEY) as client:
        assert isinstance(client, weaviate.WeaviateClient)
        client.collections.create("Anything")
        assert client.collections.exists("Anything")
