"""A task start on a fresh or idle worker reads what its DAG needs, not the whole catalog, and survives a blip.

A Celery worker that ran nothing for a while (its snapshot cache older than a task may build from) or has just
started (no cache) used to refresh the whole catalog at every task start, each concurrent start its own, and
fail the task at parse when the control DB blinked. Now such a start reads its stream's registrations (and the
streams its processes depend on) in one statement, leaves the shared cache to the dag-processor, retries a
blip briefly, and fails with one sentence naming LLF_CONTROL_DB_URL only when the database stays away.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from llf.dagbuild.snapshot import CACHE_NAME
from llf.dagbuild.task_catalog import task_catalog
from llf.settings import PROJECT_ROOT
from tests.dagbuild.test_snapshot import closed_port_url

STALE = 7200  # seconds: older than any cache a task builds from as it is (TASK_CACHE_MAX_AGE_SECONDS)


def _parse_as_task(dagbag, monkeypatch: pytest.MonkeyPatch, dag_id: str, task_id: str):
    """What Airflow's task runner sets before it parses the DAG file."""
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", dag_id)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", task_id)
    return dagbag()


def _as_dag_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", raising=False)
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", raising=False)


def _shape(dag) -> dict:
    """What a task run takes from its DAG: every task's routing, bounds, waiting mode and neighbours."""
    return {
        "dagrun_timeout": dag.dagrun_timeout,
        "tags": sorted(dag.tags),
        "tasks": {
            task.task_id: (task.queue, task.pool, task.pool_slots, task.execution_timeout,
                           getattr(task, "deferrable", None), sorted(task.upstream_task_ids), task.trigger_rule)
            for task in dag.tasks
        },
    }


def _age(cache: Path, seconds: float) -> float:
    """Make the cache `seconds` old, as on a worker that ran nothing for that long; its new mtime."""
    then = time.time() - seconds
    os.utime(cache, (then, then))
    return cache.stat().st_mtime


@pytest.fixture
def two_streams(scenario, registry) -> None:
    """Scenario routing (stream routed: load, ask, summarise on queues and pools) plus a stream `later` whose
    process `digest` depends on `summarise` of routed: a task of `later` needs rows of both streams."""
    scenario("routing")
    later = registry.group(registry.stream("later"), "only", max_parallel=2)
    digest = registry.process(later, "digest", retries=2, timeout_min=30)
    registry.run("UPDATE cntl_af.cntl_cfg_prcs SET pool_nm = 'llm', pool_slots = 3 WHERE prcs_id = %s", (digest,))
    (summarise,) = registry.run("SELECT prcs_id FROM cntl_af.cntl_cfg_prcs WHERE prcs_nm = 'summarise'")
    registry.depend(digest, summarise[0])


@pytest.mark.parametrize("dag_id", ["stream__later", "process__digest"])
def test_given_an_unrelated_stream_when_a_tasks_rows_are_read_then_only_its_stream_and_those_it_depends_on_come(
    two_streams, registry, dag_id
):
    registry.process(registry.group(registry.stream("unrelated"), "only"), "elsewhere")

    catalog = task_catalog(dag_id)

    assert [s.strem_nm for s in catalog.snapshot.streams] == ["routed", "later"]
    assert {p.prcs_nm for p in catalog.snapshot.processes} == {"load", "ask", "summarise", "digest"}
    assert {p.pool_nm for p in catalog.snapshot.pools} == {"llm", "io"}  # every pool: the routing fields
    assert catalog.most_waiting_triggers == 2 + 2 + 1  # counted over the whole catalog, unrelated included


def test_given_no_such_registration_when_a_tasks_rows_are_read_then_the_catalog_is_empty(two_streams):
    assert task_catalog("process__nobody").snapshot.streams == ()


@pytest.mark.parametrize(("dag_id", "task_id"), [
    ("stream__later", "only.digest"), ("process__digest", "run_notebook"), ("stream__routed", "think.ask"),
])
def test_given_a_stale_cache_when_a_task_starts_then_its_dag_is_the_full_parses_and_the_cache_is_left_alone(
    two_streams, registry, dagbag, state_dir, monkeypatch, dag_id, task_id
):
    dagbag()  # the dag-processor's parse: the shared cache
    registry.run("UPDATE cntl_af.cntl_cfg_prcs SET pool_slots = 2 WHERE prcs_nm IN ('digest', 'ask')")
    cache_mtime = _age(state_dir / CACHE_NAME, STALE)

    bag = _parse_as_task(dagbag, monkeypatch, dag_id, task_id)

    assert bag.import_errors == {}
    assert set(bag.dags) == {dag_id}
    assert bag.dags[dag_id].get_task(task_id).pool_slots == 2  # the rows as they are now
    assert (state_dir / CACHE_NAME).stat().st_mtime == cache_mtime  # no full refresh on the worker
    _as_dag_processor(monkeypatch)
    assert _shape(bag.dags[dag_id]) == _shape(dagbag().dags[dag_id])  # exactly what a full parse builds


def test_given_no_cache_when_four_tasks_start_at_once_then_each_builds_its_dag_and_none_refreshes_the_catalog(
    two_streams, control_db_url, state_dir
):
    """Four task runners in their own processes, as on a Celery worker with concurrency 4."""
    code = (
        "import json; from llf.dagbuild import build_dags\n"
        "dags = build_dags()\n"
        "task = dags['stream__later'].get_task('only.digest')\n"
        "print(json.dumps([sorted(dags), task.queue, task.pool, task.pool_slots]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "_AIRFLOW_PARSING_CONTEXT_DAG_ID": "stream__later",
           "_AIRFLOW_PARSING_CONTEXT_TASK_ID": "only.digest"}

    starts = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(4)]
    outputs = [start.communicate(timeout=180) for start in starts]

    assert [start.returncode for start in starts] == [0] * 4, [err[-2000:] for _, err in outputs]
    assert [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs] == [
        [["stream__later"], "default", "llm", 3]] * 4
    assert not (state_dir / CACHE_NAME).exists()  # the whole catalog was read and validated by none of them


class LateForwarder:
    """A TCP port that refuses connections until `opens_after` seconds have passed, then forwards each one to
    the PostgreSQL server: a control database that blinks as the network shows it (refused, then back)."""

    def __init__(self, url: str, opens_after: float) -> None:
        parts = urlsplit(url)
        socket_dir = parse_qs(parts.query).get("host", [""])[0]
        self.target: str | tuple[str, int] = (
            str(next(Path(socket_dir).glob(".s.PGSQL.*[0-9]"))) if socket_dir else (parts.hostname, parts.port))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql://{parts.username}@127.0.0.1:{self.port}{parts.path}"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, args=(opens_after,), daemon=True).start()

    def _serve(self, opens_after: float) -> None:
        time.sleep(opens_after)
        with socket.create_server(("127.0.0.1", self.port)) as server:
            server.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                family = socket.AF_UNIX if isinstance(self.target, str) else socket.AF_INET
                upstream = socket.socket(family)
                upstream.connect(self.target)
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()

    def close(self) -> None:
        self._stop.set()


@pytest.fixture
def blinking(control_db_url: str) -> Iterator[LateForwarder]:
    forwarder = LateForwarder(control_db_url, opens_after=1.5)
    yield forwarder
    forwarder.close()


def test_given_no_cache_and_a_database_blip_when_a_task_starts_then_it_retries_and_builds_its_dag(
    two_streams, blinking, dagbag, monkeypatch
):
    monkeypatch.setenv("LLF_CONTROL_DB_URL", blinking.url)  # refused for the first 1.5 s

    bag = _parse_as_task(dagbag, monkeypatch, "process__digest", "run_notebook")

    assert bag.import_errors == {}
    assert bag.dags["process__digest"].get_task("run_notebook").pool_slots == 3


def test_given_no_cache_and_the_database_down_when_a_task_starts_then_one_sentence_names_llf_control_db_url(
    two_streams, dagbag, monkeypatch
):
    monkeypatch.setenv("LLF_CONTROL_DB_URL", closed_port_url())

    bag = _parse_as_task(dagbag, monkeypatch, "process__digest", "run_notebook")

    assert bag.dags == {}
    (message,) = bag.import_errors.values()
    assert "LLF_CONTROL_DB_URL" in message
    assert "process__digest" in message
    assert "Traceback" not in message.split("ControlDatabaseError")[-1]


def test_given_a_stale_cache_and_the_database_down_when_a_task_starts_then_it_builds_from_the_stale_cache(
    two_streams, dagbag, state_dir, monkeypatch, caplog
):
    dagbag()
    _age(state_dir / CACHE_NAME, STALE)
    monkeypatch.setenv("LLF_CONTROL_DB_URL", closed_port_url())

    bag = _parse_as_task(dagbag, monkeypatch, "stream__later", "only.digest")

    assert bag.import_errors == {}
    assert bag.dags["stream__later"].get_task("only.digest").pool_slots == 3
