"""The control-plane FastAPI app: HTML pages for people, the same data as JSON under /api, all read-only.

Mounted by plugins/llf_control_plane.py at MOUNT_PREFIX inside Airflow's api-server; every route requires
Airflow's login (llf.ui.auth). Pages are rendered server-side with inline CSS and SVG: nothing is fetched
from another host, so the view works offline.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from llf.control.log import attempts_of_stream_run
from llf.dagbuild.common import stream_dag_id
from llf.exceptions import LlfError
from llf.services.lake import Lake, LakePathError, open_lake
from llf.services.lake.folder import FolderLake
from llf.settings import control_db_url
from llf.ui import queries
from llf.ui.auth import airflow_dag_run_reader
from llf.ui.graph import stream_graph
from llf.ui.outputs import confined_key, local_output_file
from llf.ui.timeline import build_timeline
from llf.ui.views import Links, StreamView, read_overview

MOUNT_PREFIX = "/llf"
STATUSES = ("RUNNING", "SUCCESS", "FAILED", "BLOCKED", "SKIPPED")
# Notebook HTML is user content: served as a sandboxed document (no scripts, opaque origin), so it can never
# act with the viewer's Airflow session.
OUTPUT_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

StreamFilter = Annotated[str | None, Query(description="only this stream (strem_nm)")]
DateFilter = Annotated[str | None, Query(description="business date YYYY-MM-DD; empty = latest attempt")]


def _date(value: str | None) -> dt.date | None:
    """An optional business date from a query string (HTML forms send an empty value for 'none')."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise HTTPException(422, f"date={value!r} is not a date: use YYYY-MM-DD.") from error


def _format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def _format_ts(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


templates.env.filters["duration"] = _format_duration
templates.env.filters["ts"] = _format_ts


def create_app(database_url: Callable[[], str] = control_db_url, lake: Callable[[], Lake] = open_lake) -> FastAPI:
    """The app; `database_url` and `lake` are resolved per request so settings changes need no restart."""
    app = FastAPI(title="llf control plane", dependencies=[airflow_dag_run_reader()],
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")

    def links(request: Request) -> Links:
        app_base = request.scope.get("root_path", "").rstrip("/")
        try:
            opened: Lake | None = lake()
        except LlfError as error:  # a misconfigured lake must not hide the control plane
            log.warning("No output links: %s", error)
            opened = None
        return Links(app_base=app_base, airflow_base=app_base.removesuffix(MOUNT_PREFIX), lake=opened)

    def overview(request: Request, stream: str | None, date: str | None) -> tuple:
        return read_overview(database_url(), links(request), stream=stream or None, business_date=_date(date))

    @app.exception_handler(LlfError)
    async def _llf_error(_request: Request, error: LlfError) -> Response:
        return Response(f"llf control plane: {error}", status_code=503, media_type="text/plain")

    @app.get("/api/streams", response_model=list[StreamView])
    def api_streams(request: Request, stream: StreamFilter = None, date: DateFilter = None) -> list[StreamView]:
        """Streams -> groups -> processes with their latest status (for the date, when given)."""
        return overview(request, stream, date)[1]

    @app.get("/api/log", response_model=queries.LogPage)
    def api_log(stream: StreamFilter = None, date: DateFilter = None, status: str | None = None,
                process: str | None = None, before: int | None = None,
                limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50) -> queries.LogPage:
        """Log rows newest first; follow `next_before` for older pages."""
        return queries.log_page(database_url(), stream=stream or None, business_date=_date(date),
                                status=status or None, process=process or None, before=before, limit=limit)

    @app.get("/api/stream-runs", response_model=list[queries.StreamRun])
    def api_stream_runs(stream: StreamFilter = None, date: DateFilter = None,
                        limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 20) -> list[queries.StreamRun]:
        return queries.stream_runs(database_url(), stream=stream or None, business_date=_date(date), limit=limit)

    @app.get("/api/timeline")
    def api_timeline(stream: str, run_id: str) -> dict:
        """One stream run and every process attempt it made, oldest first."""
        run, attempts = _stream_run(stream, run_id)
        return {"run": run.model_dump(mode="json"), "attempts": [a.model_dump(mode="json") for a in attempts]}

    def _stream_run(stream: str, run_id: str) -> tuple[queries.StreamRun, list]:
        url = database_url()
        run = queries.stream_run(url, stream, run_id)
        if run is None:
            raise HTTPException(404, f"No run {run_id!r} of stream {stream!r} in cntl_af.cntl_cfg_log.")
        return run, attempts_of_stream_run(url, stream, run_id)

    @app.get("/", response_class=HTMLResponse)
    def page_overview(request: Request, stream: StreamFilter = None, date: DateFilter = None) -> Response:
        snapshot, streams = overview(request, stream, date)
        by_name = {s.strem_nm: s for s in snapshot.streams}
        graphs = {
            view.strem_nm: stream_graph(snapshot, by_name[view.strem_nm], {
                p.prcs_nm: p.latest.status if p.latest else None for g in view.groups for p in g.processes})
            for view in streams
        }
        runs = queries.stream_runs(database_url(), stream=stream or None, business_date=_date(date), limit=10)
        return templates.TemplateResponse(request, "overview.html", {
            "streams": streams, "graphs": graphs, "runs": runs, "all_streams": sorted(by_name),
            "stream": stream or "", "date": date or "", "base": links(request).app_base,
        })

    @app.get("/log", response_class=HTMLResponse)
    def page_log(request: Request, stream: StreamFilter = None, date: DateFilter = None, status: str | None = None,
                 process: str | None = None, before: int | None = None,
                 limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50) -> Response:
        page = api_log(stream, date, status, process, before, limit)
        page_links = links(request)
        return templates.TemplateResponse(request, "log.html", {
            "page": page, "links": page_links, "base": page_links.app_base, "statuses": STATUSES,
            "filters": {"stream": stream or "", "date": date or "", "status": status or "",
                        "process": process or "", "limit": limit},
        })

    @app.get("/timeline", response_class=HTMLResponse)
    def page_timeline(request: Request, stream: str, run_id: str) -> Response:
        run, attempts = _stream_run(stream, run_id)
        page_links = links(request)
        return templates.TemplateResponse(request, "timeline.html", {
            "run": run, "timeline": build_timeline(attempts, dt.datetime.now(dt.UTC)), "links": page_links,
            "base": page_links.app_base, "stream_dag_id": stream_dag_id(run.strem_nm),
        })

    @app.get("/outputs/{key:path}")
    def output(key: str) -> Response:
        """An output file of a run: served from a folder lake (confined to runs/), else the lake's own URL."""
        opened = lake()
        try:
            if isinstance(opened, FolderLake):
                return FileResponse(local_output_file(opened, key), headers=OUTPUT_HEADERS)
            return RedirectResponse(opened.url(confined_key(key)))
        except LakePathError as error:
            raise HTTPException(400, str(error)) from error
        except FileNotFoundError as error:
            raise HTTPException(404, str(error)) from error

    return app
