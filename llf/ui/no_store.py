"""`Cache-Control: no-store` on every answer of the control plane, errors included.

Output notebooks, run log messages and stream pages hold business data (rows, prompts, answers) and are shown
to one logged-in user: a shared proxy or a browser's disk cache must not keep a copy that outlives that user's
grant. A refusal (401, 403, 400, 404) says no-store too, so a cache cannot answer a later request that would
have been allowed with the stored refusal, nor keep which keys exist. It is an ASGI middleware rather than a
header set per route because the 401 and 403 come from the app-wide login dependency, before any route runs.
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_STORE = "no-store"


class NoStore:
    """Sets `Cache-Control: no-store` on the start of every HTTP response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cache-Control"] = NO_STORE
            await send(message)

        await self.app(scope, receive, send_no_store)
