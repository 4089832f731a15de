"""The faults the soak injects, and the driver thread that injects each kind once per round at seeded times.

Each injector finds its target the way an operator or the platform would meet it: the kernel and the task
process by psutil (the kernel's LLF_RUN_CONTEXT names its attempt; the task process running the llf callable
is the kernel's parent), the task instances through Airflow's REST API, the run-lock sessions by their
application_name. A targeted fault with nothing to hit within TARGET_WAIT is recorded as "no target".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg2

from llf.airflow_api import AirflowClient
from llf.local.airflow import AirflowStack
from llf.local.postgres import EmbeddedPostgres, with_database
from tests.support.chaos.plan import SoakPlan

KILL_TASK, KILL_KERNEL = "SIGKILL task process", "SIGKILL kernel"
MARK_FAILED, CLEAR = "mark failed (REST)", "clear (REST)"
TERMINATE_LOCK, RESTART_DB = "pg_terminate_backend lock session", "PostgreSQL restart"
REFUSE, PAUSE = "5 s refusal of new connections", "paused process DAG"
KINDS = (KILL_TASK, KILL_KERNEL, MARK_FAILED, CLEAR, TERMINATE_LOCK, RESTART_DB, REFUSE, PAUSE)
UNPAUSE = "unpause process DAG"
T = TypeVar("T")
TARGET_WAIT = 20.0
REFUSAL_SECONDS = 5.0
PAUSE_SECONDS = 12.0


@dataclass
class SoakEnv:
    """What the soak drives: the stack's API, its PostgreSQL and components, and the folders it reads."""

    api: AirflowClient
    postgres: EmbeddedPostgres
    stack: AirflowStack
    control_url: str
    markers_dir: Path
    components: threading.Lock = field(default_factory=threading.Lock)  # one reviver of the stack at a time

    def revive(self, since: dt.datetime) -> list[str]:
        with self.components:
            return self.stack.revive(since=since)


@contextlib.contextmanager
def supervised(env: SoakEnv, interval: float = 2.0) -> Iterator[None]:
    """Start again any Airflow component that exits, as docker-compose's `restart: unless-stopped` does in
    production: after a database restart, a scheduler drains its running tasks and exits minutes later."""
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(interval):
            if any(process.poll() is not None for process in list(env.stack.processes.values())):
                with contextlib.suppress(Exception):
                    env.revive(since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))

    thread = threading.Thread(target=keep, name="soak-supervisor", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class Event:
    at: float  # seconds after the round's streams were triggered
    kind: str
    choice: int  # which candidate target, modulo how many there are then (seeded)
    target: str = ""  # set for an unpause: the DAG its pause paused


@dataclass
class Injection:
    event: Event
    done_at: float = 0.0
    outcome: str = "pending"  # "injected", "no target", or "error: ..."
    target: str = ""
    attempt: dict = field(default_factory=dict)  # the killed task's LLF_RUN_CONTEXT, for SIGKILL task process

    def line(self) -> str:
        return (f"  t={self.event.at:5.1f}s (done {self.done_at:5.1f}s) {self.event.kind}: {self.outcome}"
                + (f" -> {self.target}" if self.target else ""))


def schedule(seed: int, window: float) -> list[Event]:
    """Each kind once, at a seeded time within the round's first `window` seconds; the unpause follows its pause."""
    rng = random.Random(seed)
    events = [Event(round(rng.uniform(2.0, window), 1), kind, rng.randrange(1 << 16)) for kind in KINDS]
    return sorted(events, key=lambda event: event.at)


@dataclass(eq=False)
class Driver:
    """Injects a round's schedule against its stream runs, in time order, recording what each injection hit."""

    env: SoakEnv
    plan: SoakPlan
    business_date: dt.date
    stream_runs: dict[str, str]  # stream DAG id -> run id
    events: list[Event]
    injections: list[Injection] = field(default_factory=list)

    started: float = field(default_factory=time.monotonic)

    def start(self) -> threading.Thread:
        """Inject in a thread of its own (joined before the round settles); the clock starts now."""
        self.started = time.monotonic()
        thread = threading.Thread(target=self.run, name="soak-driver", daemon=True)
        thread.start()
        return thread

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def run(self) -> None:
        pending = list(self.events)
        while pending:
            pending.sort(key=lambda event: event.at)
            event = pending.pop(0)
            time.sleep(max(0.0, event.at - self.elapsed()))
            injection = Injection(event)
            self.injections.append(injection)
            try:
                self._inject(injection)
            except Exception as error:  # noqa: BLE001 - recorded: a failed injection is part of the report
                injection.outcome = f"error: {type(error).__name__}: {error}"
            injection.done_at = self.elapsed()
            if event.kind == PAUSE and injection.outcome == "injected":
                pending.append(Event(self.elapsed() + PAUSE_SECONDS, UNPAUSE, 0, injection.target))

    def _inject(self, injection: Injection) -> None:
        kind = injection.event.kind
        if kind == RESTART_DB:
            since = dt.datetime.now(dt.UTC)
            with self.env.components:
                self.env.postgres.restart()
                revived = self.env.stack.revive(since=since)
            injection.outcome, injection.target = "injected", f"revived {revived or 'none'}"
        elif kind == REFUSE:
            refuse_connections(self.env, REFUSAL_SECONDS)
            injection.outcome, injection.target = "injected", database_of(self.env.control_url)
        elif kind == UNPAUSE:
            set_paused(self.env.api, injection.event.target, paused=False)
            injection.outcome, injection.target = "injected", injection.event.target
        else:
            self._inject_targeted(injection)

    def _inject_targeted(self, injection: Injection) -> None:
        finders: dict[str, Callable[[int], str | None]] = {
            KILL_TASK: lambda choice: self._kill(choice, injection, task=True),
            KILL_KERNEL: lambda choice: self._kill(choice, injection, task=False),
            MARK_FAILED: lambda choice: self._patch_running(choice, clear=False),
            CLEAR: lambda choice: self._patch_running(choice, clear=True),
            TERMINATE_LOCK: lambda choice: terminate_lock_session(self.env.control_url, choice),
            PAUSE: self._pause,
        }
        deadline = time.monotonic() + TARGET_WAIT
        while True:
            target = finders[injection.event.kind](injection.event.choice)
            if target is not None:
                injection.outcome, injection.target = "injected", target
                return
            if time.monotonic() > deadline:
                injection.outcome = "no target"
                return
            time.sleep(0.5)

    def _kill(self, choice: int, injection: Injection, *, task: bool) -> str | None:
        kernels = soak_kernels(self.plan.prefix, self.business_date)
        if not kernels:
            return None
        kernel, context = kernels[choice % len(kernels)]
        victim = kernel.parent() if task else kernel
        if victim is None:
            return None
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.send_signal(signal.SIGKILL)
            injection.attempt = context
            return (f"pid {victim.pid} of {context.get('prcs_nm')} run {context.get('run_id')} "
                    f"try {context.get('try_number')} (log_id {context.get('log_id')})")
        return None

    def _patch_running(self, choice: int, *, clear: bool) -> str | None:
        running = [(dag_id, run_id, ti["task_id"]) for dag_id, run_id in self.stream_runs.items()
                   for ti in self.env.api.task_instances(dag_id, run_id) if ti["state"] == "running"]
        if not running:
            return None
        dag_id, run_id, task_id = sorted(running)[choice % len(running)]
        if clear:
            self.env.api.http.post(f"/dags/{dag_id}/clearTaskInstances", json={
                "dry_run": False, "task_ids": [task_id], "dag_run_id": run_id, "only_failed": False,
                "reset_dag_runs": True, "include_downstream": False}).raise_for_status()
        else:
            self.env.api.http.patch(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}",
                                    json={"new_state": "failed"}).raise_for_status()
        return f"{dag_id}/{run_id}/{task_id}"

    def _pause(self, choice: int) -> str | None:
        """A process DAG the other stream's dependants fall back to, so the pause is met by a waiting trigger."""
        targets = sorted({d for p in self.plan.processes.values() for d in p.depends_on
                          if self.plan.processes[d].stream != p.stream})
        dag_id = f"process__{targets[choice % len(targets)]}"
        set_paused(self.env.api, dag_id, paused=True)
        return dag_id


def soak_kernels(prefix: str, business_date: dt.date) -> list[tuple[psutil.Process, dict]]:
    """(kernel process, its run context) of every live kernel running a soak notebook for the date, by pid."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error, ValueError):
            if not any("ipykernel_launcher" in part for part in process.info["cmdline"] or []):
                continue
            context = json.loads(process.environ().get("LLF_RUN_CONTEXT") or "{}")
            if str(context.get("prcs_nm", "")).startswith(prefix) and \
                    context.get("business_date") == business_date.isoformat():
                found.append((process, context))
    return sorted(found, key=lambda pair: pair[0].pid)


@contextlib.contextmanager
def _admin(env_or_url: SoakEnv | str) -> Iterator[psycopg2.extensions.cursor]:
    url = env_or_url if isinstance(env_or_url, str) else env_or_url.postgres.admin_url
    connection = psycopg2.connect(url, connect_timeout=10)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def terminate_lock_session(control_url: str, choice: int) -> str | None:
    """End one of the control database's run-lock sessions (application_name 'llf run lock')."""
    with _admin(control_url) as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'llf run lock' "
                       "AND datname = current_database() ORDER BY pid")
        pids = [pid for (pid,) in cursor.fetchall()]
        if not pids:
            return None
        pid = pids[choice % len(pids)]
        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return f"backend {pid} of {len(pids)} lock sessions"


def database_of(url: str) -> str:
    """The database a URL names (its path; the socket folder may sit in the query: ?host=/tmp/...)."""
    return urlsplit(url).path.lstrip("/")


def refuse_connections(env: SoakEnv, seconds: float) -> None:
    """Refuse new connections to the control database for `seconds`, always allowing them again."""
    database = database_of(env.control_url)
    with _admin(with_database(env.postgres.admin_url, "postgres")) as cursor:
        cursor.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        try:
            time.sleep(seconds)
        finally:
            cursor.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')


def set_paused(api: AirflowClient, dag_id: str, *, paused: bool) -> None:
    api.http.patch(f"/dags/{dag_id}", json={"is_paused": paused}).raise_for_status()


def retried(call: Callable[[], T], timeout: float = 120) -> T:
    """`call` again while the API or the database is down (a restart under way); its last error after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except (httpx.HTTPError, psycopg2.OperationalError, psycopg2.InterfaceError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def replay_command(plan_seed: int, seed: int, processes: int) -> str:
    return f"bench/soak.py --plan-seed {plan_seed} --seed {seed} --rounds 1 --processes {processes}"
