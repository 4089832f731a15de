"""The JSON API under /api: the same data as the pages, for scripts."""

from fastapi import APIRouter, Request

from llf.control import queries
from llf.ui.sources import DateFilter, PageSize, Reader, SourcesDep, StreamFilter
from llf.ui.views import StreamView

router = APIRouter(prefix="/api")


@router.get("/streams", response_model=list[StreamView])
def api_streams(request: Request, sources: SourcesDep, access: Reader, stream: StreamFilter = None,
                date: DateFilter = None) -> list[StreamView]:
    """Streams -> groups -> processes with their latest status (for the date, when given)."""
    return sources.overview(request, access, stream, date)[1]


@router.get("/log", response_model=queries.LogPage)
def api_log(sources: SourcesDep, access: Reader, stream: StreamFilter = None, date: DateFilter = None,
            status: str | None = None, process: str | None = None, before: int | None = None,
            limit: PageSize = 50) -> queries.LogPage:
    """Log rows newest first; follow `next_before` for older pages."""
    return sources.log_page(access, stream, date, status, process, before, limit)


@router.get("/stream-runs", response_model=list[queries.StreamRun])
def api_stream_runs(sources: SourcesDep, access: Reader, stream: StreamFilter = None, date: DateFilter = None,
                    limit: PageSize = 20) -> list[queries.StreamRun]:
    return sources.stream_runs(access, stream, date, limit)


@router.get("/timeline")
def api_timeline(sources: SourcesDep, access: Reader, stream: str, run_id: str) -> dict:
    """One stream run and every process attempt it made, oldest first."""
    run, attempts = sources.stream_run(access, stream, run_id)
    return {"run": run.model_dump(mode="json"), "attempts": [a.model_dump(mode="json") for a in attempts]}
