"""What every route depends on: where to read (the control DB and the lake) and what the caller may read.

Both are FastAPI dependencies. `Sources` is set on the app by create_app and resolved per request, so settings
changes need no restart. The caller's `Access` is computed once per request by the app-wide dependency that
create_app installs (it needs Airflow's login) and read back by the routes through `Reader`: a route mounted
without that dependency fails closed (500), it never serves unfiltered data.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from llf.control import queries
from llf.control.log import attempts_of_stream_run
from llf.control.model import LogEntry, Snapshot
from llf.exceptions import LlfError
from llf.services.lake import Lake
from llf.text import control_character, parse_date
from llf.ui.auth import Access
from llf.ui.views import Links, StreamView, read_overview

MOUNT_PREFIX = "/llf"

log = logging.getLogger(__name__)

StreamFilter = Annotated[str | None, Query(description="only this stream (strem_nm)")]
DateFilter = Annotated[str | None, Query(description="business date YYYY-MM-DD; empty = latest attempt")]
PageSize = Annotated[int, Query(ge=1, le=queries.MAX_PAGE)]


def _date(value: str | None) -> dt.date | None:
    """An optional business date from a query string (HTML forms send an empty value for 'none'), read by the
    rule `llf --date` follows (llf.text.parse_date): a refusal is a 422 with its sentence."""
    if not value:
        return None
    try:
        return parse_date(value)
    except ValueError as error:
        raise HTTPException(422, f"date={error}.") from error


def printable_query(request: Request) -> None:
    """400 for a query parameter holding a control character: no stream, process, status or date has one, and a
    NUL would reach the database as a filter, where psycopg2 refuses it with a ValueError (a 500). App-wide
    (create_app), so every route, present or future, answers with this sentence."""
    for name, value in request.query_params.multi_items():
        found = control_character(name + value)
        if found is not None:
            raise HTTPException(400, f"Query parameter {name!r} contains the control character {found!r}; "
                                     "filters are printable names and dates.")


def _readable_stream(access: Access, stream: str | None) -> str | None:
    """`stream` (None for 'all'), or 404 when the caller may not read it: the same answer as for a stream that
    does not exist, so a name cannot be probed."""
    if stream and not access.stream(stream):
        raise HTTPException(404, f"No stream {stream!r} that you may read.")
    return stream or None


@dataclass(frozen=True)
class Sources:
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

    def overview(self, request: Request, access: Access, stream: str | None,
                 date: str | None) -> tuple[Snapshot, list[StreamView]]:
        return read_overview(self.database_url(), self.links(request), access.stream,
                             stream=_readable_stream(access, stream), business_date=_date(date))

    def log_page(self, access: Access, stream: str | None, date: str | None, status: str | None,
                 process: str | None, before: int | None, limit: int) -> queries.LogPage:
        return queries.log_page(self.database_url(), stream=_readable_stream(access, stream),
                                business_date=_date(date), status=status or None, process=process or None,
                                before=before, limit=limit, **access.sql_filters())

    def stream_runs(self, access: Access, stream: str | None, date: str | None, limit: int) -> list[LogEntry]:
        return queries.stream_runs(self.database_url(), stream=_readable_stream(access, stream),
                                   business_date=_date(date), limit=limit, streams=access.sql_filters()["streams"])

    def stream_run(self, access: Access, stream: str, run_id: str) -> tuple[LogEntry, list[LogEntry]]:
        url = self.database_url()
        _readable_stream(access, stream)  # 404 unless the caller may read it
        run = queries.stream_run(url, stream, run_id)
        if run is None:
            raise HTTPException(404, f"No run {run_id!r} of stream {stream!r} in cntl_af.cntl_cfg_log.")
        return run, attempts_of_stream_run(url, stream, run_id)


def get_sources(request: Request) -> Sources:
    return request.app.state.llf_sources


def current_access(request: Request) -> Access:
    """The caller's Access, computed by the app-wide dependency; missing means misassembled: refuse."""
    access = getattr(request.state, "llf_access", None)
    if not isinstance(access, Access):
        raise RuntimeError("llf control plane: a route was reached without the access check")
    return access


# Routes' annotations must be objects, not strings, for FastAPI to see these aliases: the route modules have
# no `from __future__ import annotations`.
SourcesDep = Annotated[Sources, Depends(get_sources)]
Reader = Annotated[Access, Depends(current_access)]
