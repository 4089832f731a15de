"""What a running stream's tasks wait for in Airflow, said by `llf status` (issue 25).

On CeleryExecutor a task routed to a queue no worker serves stays `queued` forever, and one whose pool is full
stays `scheduled`: neither has a row in the run log yet (the runner has not started), so the status table alone
shows nothing and the run looks hung. Airflow knows each task's state, queue, pool and since when; this turns
that into one sentence per task that has waited longer than a healthy start takes, naming the fix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# A healthy Celery start takes a few seconds (the broker hands the task to a free worker slot); a task still
# waiting after this long is worth a sentence. Pools are fuller for longer by design: a pool's wait is only
# shown past the same bound, and says who holds the slots is work of the same pool, not a fault.
WAIT_NOTED_AFTER = dt.timedelta(seconds=30)

TaskInstances = Callable[[str, str], Iterable[Mapping[str, Any]]]


def _since(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _minutes(waited: dt.timedelta) -> str:
    seconds = int(waited.total_seconds())
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def waiting_note(where: str, task: Mapping[str, Any], now: dt.datetime) -> str | None:
    """The sentence for one task instance of a running run, or None when it is not waiting too long."""
    state, task_id = task.get("state"), task.get("task_id")
    if state == "queued":
        since, queue = _since(task.get("queued_when")), task.get("queue") or "default"
        if since is None or now - since < WAIT_NOTED_AFTER:
            return None
        return (f"{where}: task {task_id} has waited {_minutes(now - since)} in Celery queue '{queue}' and no "
                f"worker has taken it: start a worker serving that queue (`airflow celery worker --queues "
                f"{queue}`, or `llf local up --executor celery --worker {queue}`), or route the process to a "
                f"served queue (cntl_cfg_prcs.queue_nm / cntl_cfg_prcs_grp.queue_nm).")
    if state == "scheduled" and task.get("pool") not in (None, "", "default_pool"):
        since, pool = _since(task.get("scheduled_when")), task.get("pool")
        if since is None or now - since < WAIT_NOTED_AFTER:
            return None
        return (f"{where}: task {task_id} has waited {_minutes(now - since)} for {task.get('pool_slots') or 1} "
                f"slot(s) of pool '{pool}', which other tasks hold (its size: cntl_cfg_pool.slots, then "
                f"`llf pools sync`).")
    return None


def waiting_notes(runs: Iterable[tuple[str, str, str]], task_instances: TaskInstances,
                  now: dt.datetime | None = None) -> list[str]:
    """One sentence per task of the given runs (label, dag id, run id) waiting in a queue or for a pool slot."""
    now = now or dt.datetime.now(dt.UTC)
    notes = []
    for label, dag_id, run_id in runs:
        for task in task_instances(dag_id, run_id):
            note = waiting_note(f"{label} (run {run_id})", task, now)
            if note:
                notes.append(note)
    return notes
