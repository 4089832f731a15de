"""CeleryExecutor with real workers: a redis-server broker and two `airflow celery worker` processes with
host names of their own (llf.local.hostname), beside the scheduler, dag-processor, triggerer and api-server.

The module starts its own stack (its own metadata, control and result databases on the session's PostgreSQL,
its own broker, notebooks and lake), so what it does to its workers (a SIGKILL) touches no other test.
Worker `llf-w-default` serves `default`, worker `llf-w-both` serves `default,llm`; each runs two tasks at once.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from llf.airflow_api import FINAL_RUN_STATES, poll, sync_pools
from llf.cli import main
from llf.cli.waiting import WAIT_NOTED_AFTER
from llf.control.pools import registered_pools
from llf.local.airflow import AirflowStack, kill_tree
from llf.local.celery import WORKER_SECRETS, CeleryExecution, CeleryWorker
from llf.local.postgres import EmbeddedPostgres
from tests.e2e.conftest import running_stack, scenario_factory
from tests.e2e.scenarios.streams import DAG_VISIBLE_TIMEOUT, STREAM_RUN_TIMEOUT, Scenario, Step
from tests.support.registry import sql_runner
from tests.support.standins.ollama_server import OllamaStandin

DEFAULT_ONLY = CeleryWorker(hostname="llf-w-default", queues="default", concurrency=2)
BOTH_QUEUES = CeleryWorker(hostname="llf-w-both", queues="default,llm", concurrency=2)
WORKERS = (DEFAULT_ONLY, BOTH_QUEUES)
NAP_6 = "import time\ntime.sleep(6)"
NAP_10 = "import time\ntime.sleep(10)"
# Runs long on its first execution (the worker running it gets killed meanwhile), briefly on the next.
HANG_ONCE = (
    "import pathlib, time\n"
    "started = pathlib.Path(marker + '.started')\n"
    "if not started.exists():\n"
    "    started.write_text(prcs_nm)\n"
    "    time.sleep(120)"
)
# the scheduler notices a vanished worker's task by its missing heartbeat (15 s in test stacks), then retries it
KILLED_WORKER_TIMEOUT = 240


@dataclass
class CeleryHarness:
    stack: AirflowStack
    control_db_url: str
    new_scenario: Callable[[str], Scenario]


@pytest.fixture(scope="module")
def celery(postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory,
           e2e_ollama: OllamaStandin) -> Iterator[CeleryHarness]:
    """The Celery stack of this module, on a fresh control database; results in a database of its own login."""
    gc.collect()  # a template in use cannot be copied (see e2e_control_db_url)
    control_db_url = postgres.fresh_database(prefix="celery")
    result_backend = "db+" + postgres.owned_database("celery_results", "llf_celery").replace(
        "postgresql://", "postgresql+psycopg2://", 1)
    notebooks = tmp_path_factory.mktemp("celery-notebooks")
    llf_env = {"LLF_CONTROL_DB_URL": control_db_url, "LLF_NOTEBOOKS_DIR": str(notebooks),
               "LLF_LAKE_URL": tmp_path_factory.mktemp("celery-lake").as_uri(), "OLLAMA_HOST": e2e_ollama.url}
    started = time.monotonic()
    with running_stack(postgres, tmp_path_factory.mktemp("celery-home"), "airflow_celery", llf_env,
                       CeleryExecution(result_backend, WORKERS)) as stack, sql_runner(control_db_url) as sql:
        print(f"\nCelery stack up in {time.monotonic() - started:.0f} s (load average {os.getloadavg()})")
        yield CeleryHarness(stack, control_db_url, scenario_factory(stack.client(), sql, notebooks,
                                                    tmp_path_factory.mktemp("celery-markers")))


def attempts(scenario: Scenario) -> list[tuple]:
    """(prcs step, try_number, status, hostname, queue_nm, message) of every process row, oldest first."""
    rows = scenario.sql(
        "SELECT prcs_nm, try_number, status, hostname, queue_nm, message FROM cntl_af.cntl_cfg_log "
        "WHERE prcs_nm LIKE %s ORDER BY log_id", (f"{scenario.name}\\_%",))
    return [(prcs_nm.removeprefix(f"{scenario.name}_"), *rest) for prcs_nm, *rest in rows]


def table(rows: list[tuple]) -> str:
    return "\n".join(" | ".join(map(str, row)) for row in rows)


def test_given_two_workers_when_a_stream_runs_four_processes_at_once_then_each_row_names_its_worker_and_queue(
    celery: CeleryHarness,
) -> None:
    scenario = celery.new_scenario("hosts")
    steps = [Step(name, NAP_6) for name in ("p1", "p2", "p3", "p4")]
    scenario.register({"g1": steps}, max_parallel=4)

    run_id, state = scenario.run()

    assert state == "success", scenario.story()
    rows = attempts(scenario)
    airflow_hosts = {ti["task_id"]: ti["hostname"] for ti in scenario.api.task_instances(scenario.dag_id, run_id)}
    print("\nrows (step | try | status | hostname | queue | message):\n" + table(rows))
    assert {(step, status, queue) for step, _, status, _, queue, _ in rows} == {
        (step.name, "SUCCESS", "default") for step in steps}
    # two tasks per worker: four at once need both, and each row names the host Airflow names for its task
    assert {host for *_, host, _, _ in rows} == {DEFAULT_ONLY.hostname, BOTH_QUEUES.hostname}
    for step, _, _, host, _, _ in rows:
        (task_host,) = [h for task_id, h in airflow_hosts.items() if task_id.endswith(step)]
        assert host == task_host


def test_given_two_simultaneous_triggers_of_one_stream_and_date_on_two_workers_then_each_notebook_runs_once(
    celery: CeleryHarness,
) -> None:
    scenario = celery.new_scenario("twice")
    # `dependant` starts beside `slow` and asks for it while it runs: the at-most-once lock makes it wait.
    scenario.register({"g1": [Step("slow", NAP_10), Step("dependant", depends_on=("slow",))]}, max_parallel=2)

    first, second = scenario.trigger(), scenario.trigger()
    states = scenario.wait(first), scenario.wait(second)

    assert states == ("success", "success"), scenario.story()
    assert scenario.executions() == {"dependant": 1, "slow": 1}
    assert scenario.running_rows() == []


@dataclass(frozen=True)
class Route:
    step: str
    queue_nm: str | None = None
    pool_nm: str | None = None


def route(scenario: Scenario, *routes: Route) -> None:
    """Route registered steps' processes (cntl_cfg_prcs.queue_nm / pool_nm)."""
    for where in routes:
        scenario.sql("UPDATE cntl_af.cntl_cfg_prcs SET queue_nm = %s, pool_nm = %s WHERE prcs_nm = %s",
                     (where.queue_nm, where.pool_nm, scenario.prcs_nm(where.step)))


def wait_routed(scenario: Scenario, *routes: Route) -> None:
    """Wait until Airflow's DAG of the stream carries the routes (snapshot refresh, then the dag-processor's next
    parse): a run triggered before would send its tasks where they ran before."""

    def routed() -> bool | None:
        tasks = {task["task_id"].rpartition(".")[2]: task for task in scenario.api.tasks(scenario.dag_id)}
        shown = {(tasks[scenario.prcs_nm(where.step)]["queue"], tasks[scenario.prcs_nm(where.step)]["pool"])
                 for where in routes}
        return True if shown == {(where.queue_nm or "default", where.pool_nm or "default_pool")
                                 for where in routes} else None

    assert poll(routed, DAG_VISIBLE_TIMEOUT), f"{scenario.dag_id} never showed the routes {routes}"


@dataclass
class RoutedRuns:
    """Four streams routed from the control tables, triggered at once (their waits overlap), each run's id."""

    queues: Scenario
    pooled: tuple[Scenario, Scenario]
    nowhere: Scenario
    run_ids: dict[str, str]


ONE_SLOT_POOL = "llf_e2e_one"
UNSERVED_QUEUE = "nobody_serves_this"


@pytest.fixture(scope="module")
def routed(celery: CeleryHarness) -> Iterator[RoutedRuns]:
    """Registered, routed, then triggered together: the queue test, the two pool streams and the stranded run
    wait side by side instead of one after the other. The stranded run is ended through the REST API at the
    end whatever happened, so nothing of it is left queued for the tests after."""
    queues, nowhere = celery.new_scenario("queues"), celery.new_scenario("nowhere")
    pooled = celery.new_scenario("pool_a"), celery.new_scenario("pool_b")
    queues.sql("INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots, pool_desc) VALUES (%s, 1, 'e2e') "
               "ON CONFLICT DO NOTHING", (ONE_SLOT_POOL,))
    sync_pools(celery.stack.client(), registered_pools(celery.control_db_url))  # registered after the stack's start
    routes: list[tuple[Scenario, tuple[Route, ...]]] = [
        (queues, (Route("prompt", queue_nm="llm"),)),
        (nowhere, (Route("stranded", queue_nm=UNSERVED_QUEUE),)),
        *[(scenario, (Route("x", pool_nm=ONE_SLOT_POOL), Route("y", pool_nm=ONE_SLOT_POOL))) for scenario in pooled],
    ]
    queues.register({"g1": [Step("plain"), Step("prompt")]}, max_parallel=2)
    # `stranded` alone: no task of the run ever starts, so llf has no row of it, and `llf status` still says why
    nowhere.register({"g1": [Step("stranded")]})
    for scenario in pooled:
        scenario.register({"g1": [Step("x", NAP_6), Step("y", NAP_6)]}, max_parallel=2)
    for scenario, where in routes:
        route(scenario, *where)
    for scenario, where in routes:
        wait_routed(scenario, *where)
    runs = RoutedRuns(queues, pooled, nowhere, {scenario.name: scenario.trigger() for scenario, _ in routes})
    try:
        yield runs
    finally:
        run_id = runs.run_ids[nowhere.name]
        if nowhere.api.run(nowhere.dag_id, run_id)["state"] not in FINAL_RUN_STATES:
            nowhere.api.end_run(nowhere.dag_id, run_id, "failed")


def test_given_a_stream_routed_to_two_queues_when_it_runs_then_each_process_runs_on_a_worker_of_its_queue(
    routed: RoutedRuns,
) -> None:
    scenario = routed.queues

    state = scenario.wait(routed.run_ids[scenario.name])

    assert state == "success", scenario.story()
    rows = {step: (status, host, queue) for step, _, status, host, queue, _ in attempts(scenario)}
    print("\nrows (step | try | status | hostname | queue | message):\n" + table(attempts(scenario)))
    assert rows["prompt"] == ("SUCCESS", BOTH_QUEUES.hostname, "llm")  # the only worker serving llm
    assert rows["plain"][::2] == ("SUCCESS", "default")
    assert rows["plain"][1] in {worker.hostname for worker in WORKERS}


def test_given_a_pool_of_one_slot_shared_by_two_streams_when_both_run_then_their_pooled_processes_never_overlap(
    routed: RoutedRuns,
) -> None:
    first, second = routed.pooled

    states = [scenario.wait(routed.run_ids[scenario.name]) for scenario in routed.pooled]

    assert states == ["success", "success"], first.story() + "\n" + second.story()
    spans = sorted(tuple(row) for row in first.sql(
        "SELECT start_ts, end_ts, prcs_nm, hostname FROM cntl_af.cntl_cfg_log WHERE status = 'SUCCESS' AND "
        "(prcs_nm LIKE %s OR prcs_nm LIKE %s)", (f"{first.name}\\_%", f"{second.name}\\_%")))
    print("\nspans (start | end | process | hostname):\n" + table(spans))
    assert len(spans) == 4
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans)), table(spans)


def queued_for(scenario: Scenario, run_id: str, step: str, seconds: float) -> dict | None:
    """The step's task instance once it has been queued for `seconds`; None before."""
    (task,) = [ti for ti in scenario.api.task_instances(scenario.dag_id, run_id)
               if ti["task_id"].endswith(scenario.prcs_nm(step))]
    since = task.get("queued_when")
    if task["state"] != "queued" or not since:
        return None
    waited = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
    return task if waited.total_seconds() >= seconds else None


def llf_status(harness: CeleryHarness, stream: str, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`llf status --stream <stream>` as a user runs it against the Celery stack: (exit code, stdout, stderr)."""
    monkeypatch.setenv("LLF_AIRFLOW_URL", harness.stack.base_url)
    monkeypatch.setenv("LLF_CONTROL_DB_URL", harness.control_db_url)
    monkeypatch.delenv("LLF_AIRFLOW_USER", raising=False)
    monkeypatch.delenv("LLF_AIRFLOW_PASSWORD", raising=False)
    capsys.readouterr()
    code = main(["status", "--stream", stream])
    out, err = capsys.readouterr()
    return code, out, err


def test_given_a_process_routed_to_a_queue_no_worker_serves_then_it_stays_queued_unrun_and_status_names_the_queue(
    celery: CeleryHarness, routed: RoutedRuns, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    scenario, run_id = routed.nowhere, routed.run_ids[routed.nowhere.name]

    # past the bound after which `llf status` names a wait (a healthy Celery start takes seconds)
    task = poll(lambda: queued_for(scenario, run_id, "stranded", WAIT_NOTED_AFTER.total_seconds() + 1),
                STREAM_RUN_TIMEOUT)
    code, _, err = llf_status(celery, scenario.name, monkeypatch, capsys)

    assert task is not None and task["queue"] == UNSERVED_QUEUE, scenario.story()
    stream_rows = scenario.sql("SELECT count(*) FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND prcs_nm IS NULL",
                               (scenario.name,))
    assert attempts(scenario) == [] and stream_rows == [(0,)]  # nothing of the run reached llf's run log
    (waiting,) = [line for line in err.splitlines() if line.startswith("waiting:")]
    assert f"in Celery queue '{UNSERVED_QUEUE}' and no worker has taken it" in waiting, err
    assert scenario.prcs_nm("stranded") in waiting and run_id in waiting
    assert code == 0

    # ended through the REST API, the run is over: `llf status` notes no wait any more, and the notebook never ran
    assert scenario.api.end_run(scenario.dag_id, run_id, "failed")["state"] == "failed"
    _, _, err = llf_status(celery, scenario.name, monkeypatch, capsys)
    assert "waiting:" not in err
    assert scenario.executions() == {}


def environ(process: psutil.Process) -> dict[str, str]:
    """The process's environment as the kernel shows it to anyone who may read /proc (a notebook of the same user);
    empty for a process that ended meanwhile (a short-lived helper)."""
    try:
        raw = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
    except (ProcessLookupError, FileNotFoundError):
        return {}
    return dict(entry.decode(errors="replace").partition("=")[::2] for entry in raw if entry)


def test_given_the_celery_stack_when_its_workers_run_then_none_of_their_processes_holds_a_stack_secret(
    celery: CeleryHarness,
) -> None:
    stack = celery.stack
    fernet_key = next(line.partition("=")[2].strip() for line in (stack.home / "airflow.cfg").read_text().splitlines()
                      if line.startswith("fernet_key"))
    scheduler = environ(psutil.Process(stack.processes["scheduler"].pid))

    for name in stack.worker_names:
        leader = psutil.Process(stack.processes[name].pid)
        for process in [leader, *leader.children(recursive=True)]:
            assert not set(WORKER_SECRETS) & set(environ(process)), f"{name}: {process.cmdline()}"
        worker_cfg = stack.home / "workers" / name.removeprefix("worker-") / "airflow.cfg"
        assert fernet_key not in worker_cfg.read_text()
    assert set(WORKER_SECRETS) - {"AIRFLOW__CORE__FERNET_KEY"} <= set(scheduler)  # the key is in its airflow.cfg


def test_given_one_retry_when_the_worker_running_a_notebook_is_sigkilled_then_the_other_worker_completes_it(
    celery: CeleryHarness,
) -> None:
    """Last in the module: it leaves one worker dead."""
    scenario = celery.new_scenario("killed")
    prcs_nm, dag_id, run_id = scenario.trigger_retried_victim(HANG_ONCE)
    started = Path(str(scenario.marker) + ".started")
    assert poll(lambda: True if started.exists() else None, STREAM_RUN_TIMEOUT), scenario.story()
    ((running_on,),) = scenario.sql(
        "SELECT hostname FROM cntl_af.cntl_cfg_log WHERE prcs_nm = %s AND status = 'RUNNING'", (prcs_nm,))

    kill_tree(celery.stack.processes[f"worker-{running_on}"].pid)  # the worker, its pool, the task, the kernel
    state = scenario.api.wait_for_run(dag_id, run_id, timeout=KILLED_WORKER_TIMEOUT)

    rows = attempts(scenario)
    print("\nrows (step | try | status | hostname | queue | message):\n" + table(rows))
    other = ({worker.hostname for worker in WORKERS} - {running_on}).pop()
    assert state == "success", scenario.story()
    assert [(try_number, status, host) for _, try_number, status, host, _, _ in rows] == [
        (1, "FAILED", running_on), (2, "SUCCESS", other)]
    assert rows[0][5].startswith("attempt abandoned")
    assert scenario.running_rows() == []
    assert scenario.executions() == {"victim": 2}
