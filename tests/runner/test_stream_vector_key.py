"""On a weaviate:// vector store a notebook kernel holds its attempt's own key, never llf's (issue 26, exploit 3): a
real run (runner, papermill, a real kernel, the session's PostgreSQL, the Weaviate stand-in on a socket enforcing
Weaviate's RBAC) uses its stream's collections through nb.vectors(), and hostile code using the kernel's key with
the raw weaviate-client cannot read, write or drop another stream's collection; each run ends with its true status,
and the attempt's Weaviate user is gone when it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from weaviate.classes.data import DataObject

from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from llf.services.vectors.weaviate import connected
from tests.runner.conftest import last_message, run_context, statuses
from tests.support.notebooks import write_notebook
from tests.support.standins.weaviate_server import WeaviateStandin, weaviate_server

ROOT_KEY = "llf-root-" + "weaviate-key"

RAW_CLIENT = """
import os
from urllib.parse import parse_qs, urlsplit
import weaviate
from weaviate.classes.init import Auth
url = urlsplit(os.environ['LLF_VECTOR_URL'])
client = weaviate.connect_to_custom(
    http_host=url.hostname, http_port=url.port, http_secure=False, grpc_host=url.hostname,
    grpc_port=int(parse_qs(url.query)['grpc_port'][0]), grpc_secure=False,
    auth_credentials=Auth.api_key(os.environ['LLF_WEAVIATE_API_KEY']), skip_init_checks=True)
victim = client.collections.use(VICTIM)
"""


@pytest.fixture
def weaviate_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[WeaviateStandin]:
    """The worker's vector store: the stand-in with RBAC, llf's key its root user's."""
    with weaviate_server(api_key=ROOT_KEY) as server:
        monkeypatch.setenv("LLF_VECTOR_URL", server.url)
        monkeypatch.setenv("LLF_WEAVIATE_API_KEY", ROOT_KEY)
        yield server


def _attempt_users(server: WeaviateStandin) -> list[str]:
    return [user for user in server.state.rbac.users if user.startswith("llf-attempt-")]


def test_given_weaviate_when_a_notebook_upserts_and_searches_its_collection_then_it_succeeds_with_its_own_key(
    registry, stream, notebooks_dir, sql, weaviate_store
):
    # given a notebook of stream s that checks its key and prefix, then uses nb.vectors()
    prefix = f"LlfS{stream['id']}_"
    write_notebook(notebooks_dir / "own.ipynb",
                   "import os\nfrom llf import notebook as nb\n"
                   f"assert os.environ['LLF_WEAVIATE_API_KEY'] != {ROOT_KEY!r}\n"
                   f"assert os.environ['LLF_VECTOR_PREFIX'] == {prefix!r}\n"
                   "store = nb.vectors('items')\n"
                   "store.upsert([{'id': 'a', 'text': 'red shoes', 'vector': [1.0, 0.0]},\n"
                   "              {'id': 'b', 'text': 'blue hat', 'vector': [0.0, 1.0]}])\n"
                   "assert [hit.text for hit in store.search([1.0, 0.0], k=1)] == ['red shoes']")
    registry.process(stream["group"], "own", notebook="own.ipynb")
    # when it runs
    run_process(run_context("own"))
    # then it succeeded, its collection is its stream's class, and the attempt's user is gone
    assert statuses(sql, "own") == ["SUCCESS"]
    assert len(weaviate_store.state.objects[f"{prefix}Items"]) == 2
    assert _attempt_users(weaviate_store) == []
    assert f"llf-stream-{stream['id']}" in weaviate_store.state.rbac.roles


@pytest.mark.parametrize("hostile", [
    "victim.query.near_vector([1.0, 0.0], limit=5)",
    "victim.data.insert_many([{'text': 'planted'}])",
    "client.collections.delete(VICTIM)",
])
def test_given_weaviate_when_a_notebook_reaches_for_another_streams_collection_then_weaviate_refuses_and_it_fails(
    registry, stream, notebooks_dir, sql, weaviate_store, hostile
):
    # given stream s's collection with data, and a notebook of stream b using its kernel's key raw on it
    victim = f"LlfS{stream['id']}_Items"
    with connected(weaviate_store.url, ROOT_KEY) as root:
        root.collections.create(victim).data.insert_many([DataObject({"text": "s's own"}, vector=[1.0, 0.0])])
    other = registry.group(registry.stream("b"), "gb")
    write_notebook(notebooks_dir / "grab.ipynb", f"VICTIM = {victim!r}" + RAW_CLIENT + hostile)
    registry.process(other, "grab", notebook="grab.ipynb")
    # when it runs
    with pytest.raises(ProcessFailed, match="InsufficientPermissionsError"):
        run_process(run_context("grab", strem_nm="b"))
    # then the run ends FAILED with the refusal, stream s's collection is as it was, and b's user is gone
    assert statuses(sql, "grab") == ["FAILED"]
    assert "InsufficientPermissionsError" in last_message(sql, "grab")
    assert len(weaviate_store.state.objects[victim]) == 1
    assert _attempt_users(weaviate_store) == []


def test_given_leftover_users_of_closed_attempts_when_a_run_starts_then_they_are_swept(
    registry, stream, notebooks_dir, sql, weaviate_store
):
    # given the users a dead worker left: one of an attempt closed since (its row FAILED), one of no attempt at all
    registry.process(stream["group"], "p", notebook="ok.ipynb")
    run_process(run_context("p"))
    (closed,) = sql("SELECT log_id FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'")[0]
    with connected(weaviate_store.url, ROOT_KEY) as root:
        for log_id in (closed, 987_654_321):
            root.users.db.create(user_id=f"llf-attempt-{log_id}")
    # when another run starts
    registry.process(stream["group"], "q", notebook="ok.ipynb")
    run_process(run_context("q"))
    # then both are gone, and the run's own user too
    assert statuses(sql, "q") == ["SUCCESS"]
    assert _attempt_users(weaviate_store) == []


def test_given_vector_stream_keys_off_when_a_notebook_runs_then_it_holds_llfs_key_as_the_setting_says(
    registry, stream, notebooks_dir, sql, weaviate_store, monkeypatch
):
    monkeypatch.setenv("LLF_VECTOR_STREAM_KEYS", "off")
    write_notebook(notebooks_dir / "shared.ipynb",
                   f"import os\nassert os.environ['LLF_WEAVIATE_API_KEY'] == {ROOT_KEY!r}\n"
                   f"assert os.environ['LLF_VECTOR_PREFIX'] == 'LlfS{stream['id']}_'")
    registry.process(stream["group"], "shared", notebook="shared.ipynb")
    run_process(run_context("shared"))
    assert statuses(sql, "shared") == ["SUCCESS"]
    assert weaviate_store.state.rbac.users == {}


@pytest.mark.parametrize("refusing", ["RBAC off", "llf's key not root"])
def test_given_weaviate_refusing_to_make_users_when_a_notebook_would_run_then_it_fails_with_the_sentence(
    registry, stream, notebooks_dir, sql, monkeypatch, refusing
):
    # given a Weaviate without RBAC, or llf's key a DB user that may not manage users
    with weaviate_server(api_key=ROOT_KEY, rbac=refusing != "RBAC off") as server:
        key = ROOT_KEY
        if refusing == "llf's key not root":
            with connected(server.url, ROOT_KEY) as root:
                key = root.users.db.create(user_id="not-root")
        monkeypatch.setenv("LLF_VECTOR_URL", server.url)
        monkeypatch.setenv("LLF_WEAVIATE_API_KEY", key)
        write_notebook(notebooks_dir / "never.ipynb", "raise SystemExit('the kernel must not start')")
        registry.process(stream["group"], "never", notebook="never.ipynb")
        # when it would run
        with pytest.raises(ProcessFailed):
            run_process(run_context("never"))
    # then it failed before the kernel, with the sentence naming what to set, and no key in it
    assert statuses(sql, "never") == ["FAILED"]
    message = last_message(sql, "never")
    assert "LLF_VECTOR_STREAM_KEYS=off" in message and "AUTHORIZATION_RBAC_ROOT_USERS" in message, message
    assert "the kernel must not start" not in message
    assert ROOT_KEY not in message and key not in message
