"""The HTML pages: overview (tree, graphs, stream runs), run log, timeline of a stream run.

Rendered server-side with inline CSS and SVG: nothing is fetched from another host, so the view works offline.
"""

import datetime as dt
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from llf.control.model import Status, stream_dag_id
from llf.text import format_duration
from llf.ui.graph import stream_graph
from llf.ui.sources import DateFilter, PageSize, Reader, SourcesDep, StreamFilter
from llf.ui.timeline import build_timeline

STATUSES = tuple(Status)

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")


def _format_ts(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


templates.env.filters["duration"] = format_duration
templates.env.filters["ts"] = _format_ts


@router.get("/", response_class=HTMLResponse)
def page_overview(request: Request, sources: SourcesDep, access: Reader, stream: StreamFilter = None,
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


@router.get("/log", response_class=HTMLResponse)
def page_log(request: Request, sources: SourcesDep, access: Reader, stream: StreamFilter = None,
             date: DateFilter = None, status: str | None = None, process: str | None = None,
             before: int | None = None, limit: PageSize = 50) -> Response:
    page = sources.log_page(access, stream, date, status, process, before, limit)
    page_links = sources.links(request)
    return templates.TemplateResponse(request, "log.html", {
        "page": page, "links": page_links, "base": page_links.app_base, "statuses": STATUSES,
        "filters": {"stream": stream or "", "date": date or "", "status": status or "",
                    "process": process or "", "limit": limit},
    })


@router.get("/timeline", response_class=HTMLResponse)
def page_timeline(request: Request, sources: SourcesDep, access: Reader, stream: str, run_id: str) -> Response:
    run, attempts = sources.stream_run(access, stream, run_id)
    page_links = sources.links(request)
    return templates.TemplateResponse(request, "timeline.html", {
        "run": run, "timeline": build_timeline(attempts, dt.datetime.now(dt.UTC)), "links": page_links,
        "base": page_links.app_base, "stream_dag_id": stream_dag_id(stream),
    })
