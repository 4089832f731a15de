"""A client of Apache Airflow 3's REST API: what `llf run` and `llf backfill` call on a production Airflow,
and local mode and the end-to-end tests on theirs.

It speaks HTTP only (httpx): no Airflow package is imported, so the CLI can drive any reachable Airflow.
Starting an Airflow of one's own is `llf.local.airflow`'s job. Its pools are made to match the registered ones
(`sync_pools`) here, below the CLI and local mode, which both run it; what to change is `llf.control.pools`'s
pure plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from llf.control.pools import Pool, PoolPlan, plan_pools
from llf.exceptions import LlfError

FINAL_RUN_STATES = frozenset({"success", "failed"})

T = TypeVar("T")


class AirflowApiError(LlfError):
    """Airflow's API did not show what was awaited in time (a DAG parsed, a run finished); the message says
    what it showed instead."""


def poll(probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T | None:
    """Call `probe` until it returns something other than None; None after `timeout` seconds.

    Exceptions raised by `probe` are not retried: they mean "give up now" (e.g. a component died).
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda value: value is None),
        retry_error_callback=lambda _state: None,
    )
    return retrying(probe)


def api_healthy(base_url: str) -> bool:
    """Every component the api-server knows of reports healthy (the api-server itself answers)."""
    try:
        health = httpx.get(f"{base_url}/api/v2/monitor/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    statuses = [part.get("status") for part in health.values()]
    return bool(statuses) and all(status == "healthy" for status in statuses)


def heartbeats_since(base_url: str, since: dt.datetime) -> bool:
    """Scheduler, triggerer and dag-processor are healthy and each heartbeated after `since` (aware)."""
    try:
        health = httpx.get(f"{base_url}/api/v2/monitor/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    for component in ("scheduler", "triggerer", "dag_processor"):
        part = health.get(component) or {}
        beat = part.get(f"latest_{component}_heartbeat")
        if part.get("status") != "healthy" or not beat or dt.datetime.fromisoformat(beat) <= since:
            return False
    return True


def access_token(base_url: str, credentials: tuple[str, str] | None = None) -> str:
    """A JWT for Airflow's API. Without credentials, the one Airflow hands anyone when every user is admin
    (local mode, the tests: `simple_auth_manager_all_admins`); with them, a login: the simple and FAB auth
    managers both take a JSON username and password at POST /auth/token."""
    if credentials is None:
        response = httpx.get(f"{base_url}/auth/token", timeout=10)
    else:
        user, password = credentials
        response = httpx.post(f"{base_url}/auth/token", json={"username": user, "password": password}, timeout=10)
    return response.raise_for_status().json()["access_token"]


class AirflowClient:
    """The few calls of Airflow's REST API v2 that local mode, `llf run` and the end-to-end tests need."""

    def __init__(self, base_url: str, credentials: tuple[str, str] | None = None) -> None:
        self.base_url = base_url
        token = access_token(base_url, credentials)
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def dag(self, dag_id: str) -> dict | None:
        """The DAG as Airflow knows it (is_paused, tags, ...), or None when no DAG has that id (not parsed)."""
        response = self.http.get(f"/dags/{dag_id}")
        return None if response.status_code == 404 else response.raise_for_status().json()

    def _get(self, path: str, **params: Any) -> Any:
        return self.http.get(path, params=params).raise_for_status().json()

    def import_errors(self) -> list[dict]:
        return self._get("/importErrors", limit=100)["import_errors"]

    def wait_for_dag(self, dag_id: str, timeout: float = 60) -> dict:
        """The DAG once the dag-processor has parsed it; the import errors are in the error otherwise."""

        def probe() -> dict | None:
            response = self.http.get(f"/dags/{dag_id}")
            return response.raise_for_status().json() if response.status_code != 404 else None

        dag = poll(probe, timeout)
        if dag is None:
            raise AirflowApiError(
                f"DAG {dag_id!r} not visible after {timeout:.0f}s; import errors: {self.import_errors()}"
            )
        return dag

    def unpause(self, dag_id: str) -> None:
        self.http.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a manual run now (no logical date) and return its run id."""
        body = {"logical_date": None, "conf": dict(conf or {})}
        return self.http.post(f"/dags/{dag_id}/dagRuns", json=body).raise_for_status().json()["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def end_run(self, dag_id: str, run_id: str, state: Literal["success", "failed"]) -> dict:
        """Mark a run ended, as the UI's "Mark as" does: Airflow ends its unfinished tasks with it. For a run
        that cannot end by itself (a task queued where no worker listens); returns the run as it is now."""
        return self.http.patch(f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": state}).raise_for_status().json()

    def running_runs(self) -> list[dict]:
        """Every DAG run Airflow has running, of any DAG (`~`), up to the API's page: what `llf status` asks
        which tasks wait, whether or not llf recorded anything of the run yet."""
        return self._get("/dags/~/dagRuns", state="running", limit=100)["dag_runs"]

    def tasks(self, dag_id: str) -> list[dict]:
        """The DAG's tasks as the dag-processor last serialized them (task_id, queue, pool, pool_slots, ...):
        what a task will be sent with, before any run exists."""
        return self._get(f"/dags/{dag_id}/tasks")["tasks"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120) -> str:
        """The run's final state (success / failed); raises when it is still going after `timeout`."""

        def probe() -> str | None:
            state = self.run(dag_id, run_id)["state"]
            return state if state in FINAL_RUN_STATES else None

        state = poll(probe, timeout)
        if state is None:
            raise AirflowApiError(
                f"Run {dag_id}/{run_id} not finished after {timeout:.0f}s: "
                f"{[(ti['task_id'], ti['state']) for ti in self.task_instances(dag_id, run_id)]}"
            )
        return state

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self._get(path, deserialize=True)["value"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self._get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]

    def pools(self) -> list[dict]:
        """Every pool of Airflow, page by page (the API returns at most [api] maximum_page_limit at a time)."""
        pools: list[dict] = []
        while True:
            page = self._get("/pools", limit=100, offset=len(pools), order_by="name")
            pools += page["pools"]
            if not page["pools"] or len(pools) >= page["total_entries"]:
                return pools

    def create_pool(self, pool: Pool) -> None:
        self.http.post("/pools", json=self._pool_body(pool)).raise_for_status()

    def update_pool(self, pool: Pool) -> None:
        """Set a pool's slots and description, and keep deferred tasks out of its slots (see _pool_body)."""
        mask = {"update_mask": ["slots", "description", "include_deferred"]}
        self.http.patch(f"/pools/{quote(pool.name, safe='')}", json=self._pool_body(pool),
                        params=mask).raise_for_status()

    @staticmethod
    def _pool_body(pool: Pool) -> dict[str, Any]:
        """A pool as llf owns it. include_deferred is always off: a pooled stream task that triggered its process
        run defers while that run's notebook waits for a slot of the same pool, and a deferred task counted in
        the pool would hold the slot its own run needs (llf.dagbuild: pooled tasks always defer that wait)."""
        return {"name": pool.name, "slots": pool.slots, "description": pool.description, "include_deferred": False}


def sync_pools(api: AirflowClient, registered: list[Pool], dry_run: bool = False) -> PoolPlan:
    """Make Airflow's pools match the registered ones (cntl_cfg_pool): create the missing, update the changed,
    never delete. With `dry_run`, only say what would be done: the plan is the same either way."""
    in_airflow = [Pool(pool["name"], pool["slots"], pool.get("description") or "") for pool in api.pools()]
    plan = plan_pools(registered, in_airflow)
    if not dry_run:
        for pool in plan.create:
            api.create_pool(pool)
        for _, pool in plan.update:
            api.update_pool(pool)
    return plan
