"""The JSON API under /api: the same data as the pages, for scripts."""

from fastapi import APIRouter, Request

from llf.control import queries
from llf.control.model import LogEntry
from llf.ui.sources import DateFilter, PageSize, Reader, SourcesDep, StreamFilter
from llf.ui.views import StreamView

router = APIRouter(prefix="/api")


@router.get("/streams", response_model=list[StreamView])
def api_streams(request: Request, sources: SourcesDep, access: Reader, stream: StreamFilter = None,
                date: DateFilter = None) -> list[StreamView]:
    """Streams -> groups -> processes with their latest status (for the date, when given)."""
    return sources.overview(request, access, stream, date)[1]


@router.get("/log", response_model=queries.LogPage,
            response_model_include={"rows": {"__all__": set(queries.LOG_ROW_FIELDS)}, "next_before": True})
def api_log(sources: SourcesDep, access: Reader, stream: StreamFilter = None, date: DateFilter = None,
            status: str | None = None, process: str | None = None, before: int | None = None,
            limit: PageSize = 50) -> queries.LogPage:
    """Log rows newest first; follow `next_before` for older pages."""
    return sources.log_page(access, stream, date, status, process, before, limit)


@router.get("/stream-runs", response_model=list[LogEntry],
            response_model_include={"__all__": set(queries.STREAM_RUN_FIELDS)})
def api_stream_runs(sources: SourcesDep, access: Reader, stream: StreamFilter = None, date: DateFilter = None,
                    limit: PageSize = 20) -> list[LogEntry]:
    return sources.stream_runs(access, stream, date, limit)


@router.get("/timeline")
def api_timeline(sources: SourcesDep, access: Reader, stream: str, run_id: str) -> dict:
    """One stream run and every process attempt it made, oldest first."""
    run, attempts = sources.stream_run(access, stream, run_id)
    return {"run": run.model_dump(mode="json", include=set(queries.STREAM_RUN_FIELDS)),
            "attempts": [a.model_dump(mode="json", include=set(queries.ATTEMPT_FIELDS)) for a in attempts]}
