"""The control-plane FastAPI app: HTML pages for people, the same data as JSON under /api, all read-only.

Mounted by plugins/llf_control_plane.py at MOUNT_PREFIX inside Airflow's api-server; every route requires
Airflow's login and shows only the streams and processes whose DAGs the user may read (llf.ui.auth): another
stream's page or output is a 404, as if it did not exist. No OpenAPI schema or docs page is served (they would
be reachable without login). Pages are rendered server-side with inline CSS and SVG: nothing is fetched from
another host, so the view works offline. Errors name no database host, database or user: those go to the log.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from llf.control import queries
from llf.control.log import attempts_of_stream_run
from llf.control.model import Status, stream_dag_id
from llf.exceptions import LlfError
from llf.services.lake import Lake, LakePathError, open_lake
from llf.settings import control_db_url
from llf.ui.auth import Access, access_dependency, airflow_dag_run_reader
from llf.ui.graph import stream_graph
from llf.ui.outputs import OUTPUT_PIECE_BYTES, confined_key, output_media_type, stored_output_key
from llf.ui.timeline import build_timeline
from llf.ui.views import Links, StreamView, read_overview

MOUNT_PREFIX = "/llf"
STATUSES = tuple(Status)
# Notebook HTML is user content: served as a sandboxed document (no scripts, opaque origin), so it can never
# act with the viewer's Airflow session.
OUTPUT_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

StreamFilter = Annotated[str | None, Query(description="only this stream (strem_nm)")]
DateFilter = Annotated[str | None, Query(description="business date YYYY-MM-DD; empty = latest attempt")]
PageSize = Annotated[int, Query(ge=1, le=queries.MAX_PAGE)]


def _date(value: str | None) -> dt.date | None:
    """An optional business date from a query string (HTML forms send an empty value for 'none')."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise HTTPException(422, f"date={value!r} is not a date: use YYYY-MM-DD.") from error


def _readable_stream(access: Access, stream: str | None) -> str | None:
    """`stream` (None for 'all'), or 404 when the caller may not read it: the same answer as for a stream that
    does not exist, so a name cannot be probed."""
    if stream and not access.stream(stream):
        raise HTTPException(404, f"No stream {stream!r} that you may read.")
    return stream or None


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


@dataclass(frozen=True)
class _Sources:
    """Where the routes read from, resolved per request so settings changes need no restart."""

    database_url: Callable[[], str]
    lake: Callable[[], Lake]

    def links(self, request: Request) -> Links:
        app_base = request.scope.get("root_path", "").rstrip("/")
        try:
            opened: Lake | None = self.lake()
        except LlfError as error:  # a misconfigured lake must not hide the control plane
            log.warning("No output links: %s", error)
            opened = None
        return Links(app_base=app_base, airflow_base=app_base.removesuffix(MOUNT_PREFIX), lake=opened)

    def overview(self, request: Request, access: Access, stream: str | None, date: str | None) -> tuple:
        return read_overview(self.database_url(), self.links(request), access.stream,
                             stream=_readable_stream(access, stream), business_date=_date(date))

    def log_page(self, access: Access, stream: str | None, date: str | None, status: str | None,
                 process: str | None, before: int | None, limit: int) -> queries.LogPage:
        return queries.log_page(self.database_url(), stream=_readable_stream(access, stream),
                                business_date=_date(date), status=status or None, process=process or None,
                                before=before, limit=limit, **access.sql_filters())

    def stream_runs(self, access: Access, stream: str | None, date: str | None, limit: int) -> list:
        return queries.stream_runs(self.database_url(), stream=_readable_stream(access, stream),
                                   business_date=_date(date), limit=limit, streams=access.sql_filters()["streams"])

    def stream_run(self, access: Access, stream: str, run_id: str) -> tuple[queries.StreamRun, list]:
        url = self.database_url()
        run = queries.stream_run(url, _readable_stream(access, stream), run_id)
        if run is None:
            raise HTTPException(404, f"No run {run_id!r} of stream {stream!r} in cntl_af.cntl_cfg_log.")
        return run, attempts_of_stream_run(url, stream, run_id)


def create_app(database_url: Callable[[], str] = control_db_url, lake: Callable[[], Lake] = open_lake) -> FastAPI:
    """The app; `database_url` and `lake` are resolved per request so settings changes need no restart."""
    read_access = access_dependency(lambda: queries.registered_names(database_url()))
    # In the app's dependencies too: every route, present or future, answers 403 to a user allowed on no llf DAG.
    app = FastAPI(title="llf control plane", dependencies=[airflow_dag_run_reader(), Depends(read_access)],
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(LlfError, _llf_error)
    # Computed once per request (FastAPI caches it). Routes' annotations must be objects, not strings, for
    # FastAPI to see this alias: this module has no `from __future__ import annotations`.
    reader = Annotated[Access, Depends(read_access)]
    sources = _Sources(database_url, lake)
    _api_routes(app, sources, reader)
    _page_routes(app, sources, reader)
    _output_route(app, sources, reader)
    return app


async def _llf_error(_request: Request, error: Exception) -> Response:
    """The cause goes to the api-server log only: it may name the database host, database and user."""
    log.error("llf control plane: %s", error)
    return Response(f"llf control plane: cannot show this page ({type(error).__name__}); "
                    "the Airflow api-server log has the cause.", status_code=503, media_type="text/plain")


def _api_routes(app: FastAPI, sources: _Sources, reader: Any) -> None:
    """The JSON API under /api: the same data as the pages."""

    @app.get("/api/streams", response_model=list[StreamView])
    def api_streams(request: Request, access: reader, stream: StreamFilter = None,
                    date: DateFilter = None) -> list[StreamView]:
        """Streams -> groups -> processes with their latest status (for the date, when given)."""
        return sources.overview(request, access, stream, date)[1]

    @app.get("/api/log", response_model=queries.LogPage)
    def api_log(access: reader, stream: StreamFilter = None, date: DateFilter = None, status: str | None = None,
                process: str | None = None, before: int | None = None, limit: PageSize = 50) -> queries.LogPage:
        """Log rows newest first; follow `next_before` for older pages."""
        return sources.log_page(access, stream, date, status, process, before, limit)

    @app.get("/api/stream-runs", response_model=list[queries.StreamRun])
    def api_stream_runs(access: reader, stream: StreamFilter = None, date: DateFilter = None,
                        limit: PageSize = 20) -> list[queries.StreamRun]:
        return sources.stream_runs(access, stream, date, limit)

    @app.get("/api/timeline")
    def api_timeline(access: reader, stream: str, run_id: str) -> dict:
        """One stream run and every process attempt it made, oldest first."""
        run, attempts = sources.stream_run(access, stream, run_id)
        return {"run": run.model_dump(mode="json"), "attempts": [a.model_dump(mode="json") for a in attempts]}


def _page_routes(app: FastAPI, sources: _Sources, reader: Any) -> None:
    """The HTML pages: overview (tree, graphs, stream runs), run log, timeline of a stream run."""

    @app.get("/", response_class=HTMLResponse)
    def page_overview(request: Request, access: reader, stream: StreamFilter = None,
                      date: DateFilter = None) -> Response:
        snapshot, streams = sources.overview(request, access, stream, date)
        by_name = {s.strem_nm: s for s in snapshot.streams}
        graphs = {
            view.strem_nm: stream_graph(snapshot, by_name[view.strem_nm], {
                p.prcs_nm: p.latest.status if p.latest else None for g in view.groups for p in g.processes},
                access.stream)
            for view in streams
        }
        return templates.TemplateResponse(request, "overview.html", {
            "streams": streams, "graphs": graphs, "runs": sources.stream_runs(access, stream, date, 10),
            "all_streams": sorted(name for name in by_name if access.stream(name)),
            "stream": stream or "", "date": date or "", "base": sources.links(request).app_base,
        })

    @app.get("/log", response_class=HTMLResponse)
    def page_log(request: Request, access: reader, stream: StreamFilter = None, date: DateFilter = None,
                 status: str | None = None, process: str | None = None, before: int | None = None,
                 limit: PageSize = 50) -> Response:
        page = sources.log_page(access, stream, date, status, process, before, limit)
        page_links = sources.links(request)
        return templates.TemplateResponse(request, "log.html", {
            "page": page, "links": page_links, "base": page_links.app_base, "statuses": STATUSES,
            "filters": {"stream": stream or "", "date": date or "", "status": status or "",
                        "process": process or "", "limit": limit},
        })

    @app.get("/timeline", response_class=HTMLResponse)
    def page_timeline(request: Request, access: reader, stream: str, run_id: str) -> Response:
        run, attempts = sources.stream_run(access, stream, run_id)
        page_links = sources.links(request)
        return templates.TemplateResponse(request, "timeline.html", {
            "run": run, "timeline": build_timeline(attempts, dt.datetime.now(dt.UTC)), "links": page_links,
            "base": page_links.app_base, "stream_dag_id": stream_dag_id(run.strem_nm),
        })


def _output_route(app: FastAPI, sources: _Sources, reader: Any) -> None:
    @app.get("/outputs/{key:path}")
    def output(access: reader, key: str) -> Response:
        """An output file of a run, streamed from the lake (folder or MinIO) with the sandboxing headers.

        Readable when the user may read the run's process DAG or its stream DAG; otherwise 404, the answer for
        a missing file, checked before the lake is touched so existence cannot be probed.
        """
        opened = sources.lake()
        try:
            if not access.output(confined_key(key)):
                raise FileNotFoundError(key)
            stored = stored_output_key(opened, key)
            if not access.output(stored):  # a folder-lake symlink into a folder the user may not read
                raise FileNotFoundError(key)
            pieces = opened.stream(stored, OUTPUT_PIECE_BYTES)
        except LakePathError as error:
            raise HTTPException(400, str(error)) from error
        except FileNotFoundError as error:
            raise HTTPException(404, f"No output {key!r} that you may read.") from error
        return StreamingResponse(pieces, media_type=output_media_type(stored), headers=OUTPUT_HEADERS)
