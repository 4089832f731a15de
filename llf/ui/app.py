"""The control-plane FastAPI app: HTML pages for people, the same data as JSON under /api, all read-only.

Mounted by plugins/llf_control_plane.py at MOUNT_PREFIX inside Airflow's api-server; every route requires
Airflow's login and shows only the streams and processes whose DAGs the user may read (llf.ui.auth): another
stream's page or output is a 404, as if it did not exist. It reads with a login and a lake key that can only
read (llf.ui.readers). No answer may be cached (llf.ui.no_store). No
OpenAPI schema or docs page is served (they would be reachable without login). Errors name no database host,
database or user: those go to the log.
"""

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from llf.control import queries
from llf.exceptions import LlfError
from llf.services.lake import Lake
from llf.ui.auth import Access, access_dependency, airflow_dag_run_reader
from llf.ui.no_store import NoStore
from llf.ui.readers import ui_db_url, ui_lake
from llf.ui.routes import api, outputs, pages
from llf.ui.sources import MOUNT_PREFIX, Sources, printable_query

__all__ = ["MOUNT_PREFIX", "create_app"]

log = logging.getLogger(__name__)


def create_app(database_url: Callable[[], str] = ui_db_url, lake: Callable[[], Lake] = ui_lake) -> FastAPI:
    """The app; `database_url` and `lake` are resolved per request so settings changes need no restart. By
    default the UI's own read-only login and lake key (llf.ui.readers), not llf's."""
    read_access = access_dependency(lambda: queries.registered_names(database_url()))

    def check_access(request: Request, access: Annotated[Access, Depends(read_access)]) -> None:
        request.state.llf_access = access  # what every route reads through llf.ui.sources.Reader

    # App-wide, so every route, present or future, answers 403 to a user allowed on no llf DAG (checked first)
    # and 400 to a query parameter with a control character.
    app = FastAPI(title="llf control plane",
                  dependencies=[airflow_dag_run_reader(), Depends(check_access), Depends(printable_query)],
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.llf_sources = Sources(database_url, lake)
    app.add_exception_handler(LlfError, _llf_error)
    app.add_middleware(NoStore)  # every answer holds data of one user's grant: no cache may keep it
    for router in (api.router, pages.router, outputs.router):
        app.include_router(router)
    return app


async def _llf_error(_request: Request, error: Exception) -> Response:
    """The cause goes to the api-server log only: it may name the database host, database or user."""
    log.error("llf control plane: %s", error)
    return Response(f"llf control plane: cannot show this page ({type(error).__name__}); "
                    "the Airflow api-server log has the cause.", status_code=503, media_type="text/plain")
