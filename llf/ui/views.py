"""What the pages and the JSON API show: the registrations as a tree, each process with its latest status.

Built from one snapshot (llf.control.repository) and one status query (llf.control.status): two statements
per page, whatever the number of streams.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from pydantic import BaseModel

from llf.control.model import Snapshot, Status, Stream, process_dag_id, stream_dag_id
from llf.control.repository import read_snapshot
from llf.control.status import ProcessStatus, latest_statuses
from llf.services.lake import Lake
from llf.services.lake.runs import html_key_of


@dataclass(frozen=True)
class Links:
    """Absolute paths of the app's own routes and of Airflow's UI, from where the app is mounted."""

    app_base: str  # e.g. /llf
    airflow_base: str  # e.g. "" (Airflow at the server root)
    lake: Lake | None

    def output(self, output_path: str | None, prcs_nm: str | None) -> str | None:
        key = html_key_of(self.lake, output_path, prcs_nm) if self.lake else None
        return f"{self.app_base}/outputs/{quote(key)}" if key else None

    def dag(self, dag_id: str) -> str:
        return f"{self.airflow_base}/dags/{quote(dag_id, safe='')}"

    def dag_run(self, dag_id: str | None, run_id: str | None) -> str | None:
        return f"{self.dag(dag_id)}/runs/{quote(run_id, safe='')}" if dag_id and run_id else None


class StatusView(BaseModel):
    """A process's deciding attempt; the defaults are a process that never ran."""

    business_date: dt.date | None = None
    status: Status | None = None
    start_ts: dt.datetime | None = None
    end_ts: dt.datetime | None = None
    duration_seconds: float | None = None
    tokens: int = 0
    message: str | None = None
    run_id: str | None = None
    output_href: str | None = None
    dag_run_href: str | None = None


class ProcessView(BaseModel):
    prcs_nm: str
    priority: int
    active: bool
    notebook: str | None
    timeout_min: float
    retries: int
    queue_nm: str  # the Celery queue it runs on: its own, else its group's
    pool_nm: str | None  # None: Airflow's default_pool
    pool_slots: int
    depends_on: list[str]
    dag_href: str
    latest: StatusView | None  # None for inactive processes: they are not run


class GroupView(BaseModel):
    prcs_grp_nm: str
    priority: int
    max_parallel: int
    active: bool
    queue_nm: str
    processes: list[ProcessView]


class ScheduleView(BaseModel):
    cron_expr: str
    timezone: str


class StreamView(BaseModel):
    strem_nm: str
    description: str
    active: bool
    fail_policy: str
    schedule: ScheduleView | None
    dag_href: str
    groups: list[GroupView]


def read_overview(url: str, links: Links, readable: Callable[[str], bool], *, stream: str | None = None,
                  business_date: dt.date | None = None) -> tuple[Snapshot, list[StreamView]]:
    """The snapshot and the tree of every `readable` stream (or the one named), with statuses for the date
    (or latest). A stream is shown whole or not at all: reading its DAG means reading all its processes."""
    snapshot = read_snapshot(url)
    statuses = {s.prcs_nm: s for s in latest_statuses(url, stream=stream, business_date=business_date)}
    streams = [s for s in sorted(snapshot.streams, key=lambda s: s.strem_nm)
               if stream in (None, s.strem_nm) and readable(s.strem_nm)]
    return snapshot, [_stream_view(snapshot, s, statuses, links) for s in streams]


def _stream_view(snapshot: Snapshot, stream: Stream, statuses: dict[str, ProcessStatus], links: Links,
                 ) -> StreamView:
    schedule = snapshot.active_schedule(stream)
    groups = sorted((g for g in snapshot.groups if g.strem_id == stream.strem_id),
                    key=lambda g: (g.priority, g.prcs_grp_nm))
    return StreamView(
        strem_nm=stream.strem_nm,
        description=stream.strem_desc,
        active=stream.actv_flg,
        fail_policy=stream.fail_policy,
        schedule=ScheduleView(cron_expr=schedule.cron_expr, timezone=schedule.timezone) if schedule else None,
        dag_href=links.dag(stream_dag_id(stream.strem_nm)),
        groups=[
            GroupView(
                prcs_grp_nm=group.prcs_grp_nm,
                priority=group.priority,
                max_parallel=group.max_parallel,
                active=group.actv_flg,
                queue_nm=group.queue_nm,
                processes=[
                    ProcessView(
                        prcs_nm=process.prcs_nm,
                        priority=process.priority,
                        active=process.actv_flg,
                        notebook=getattr(snapshot.system_file_by_process_id.get(process.prcs_id), "file_path", None),
                        timeout_min=process.timeout_min,
                        retries=process.retries,
                        queue_nm=snapshot.queue_of(process),
                        pool_nm=process.pool_nm,
                        pool_slots=process.pool_slots,
                        depends_on=[d.prcs_nm for d in snapshot.dependencies_of(process)],
                        dag_href=links.dag(process_dag_id(process.prcs_nm)),
                        latest=_status_view(statuses.get(process.prcs_nm), links),
                    )
                    for process in sorted((p for p in snapshot.processes if p.prcs_grp_id == group.prcs_grp_id),
                                          key=lambda p: (p.priority, p.prcs_nm))
                ],
            )
            for group in groups
        ],
    )


def _status_view(status: ProcessStatus | None, links: Links) -> StatusView | None:
    """What the overview shows of an active process: its deciding attempt, all None when it never ran; None
    for a process not in `statuses` (inactive: it is not run)."""
    if status is None:
        return None
    latest = status.latest
    if latest is None:
        return StatusView()
    duration = latest.duration
    return StatusView(
        business_date=latest.business_date,
        status=latest.status,
        start_ts=latest.start_ts,
        end_ts=latest.end_ts,
        duration_seconds=duration.total_seconds() if duration is not None else None,
        tokens=latest.tokens,
        message=latest.message,
        run_id=latest.run_id,
        output_href=links.output(latest.output_path, status.prcs_nm),
        dag_run_href=links.dag_run(latest.dag_id, latest.run_id),
    )
