"""The few routes of Airflow 3's API that `llf run` and `llf backfill` call, on 127.0.0.1 with an ephemeral port.

Enough to drive the CLI's own logic (answers it must refuse, a run that outlives --timeout-min, a request
that hangs until Ctrl-C) without starting a whole Airflow; tests/e2e runs the real one.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class AirflowBehaviour:
    """What the stand-in answers; tests set it before the command runs."""

    token: Any = field(default_factory=lambda: {"access_token": "stand-in"})  # the JSON /auth/token answers
    run_state: str = "running"  # every dag run's state
    hang_on: str | None = None  # a path suffix whose requests get no answer until the server stops
    hanging: threading.Event = field(default_factory=threading.Event)  # set when such a request arrived
    triggered: list[dict] = field(default_factory=list)  # the conf of each run triggered
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: Any) -> None:  # keep pytest's output clean
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        behaviour, path = self.server.behaviour, self.path.split("?")[0]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if behaviour.hang_on and path.endswith(behaviour.hang_on):
            behaviour.hanging.set()
            behaviour.release.wait(60)
            return
        if path == "/auth/token":
            return self._json(behaviour.token)
        if re.fullmatch(r"/api/v2/dags/[^/]+", path):
            return self._json({"dag_id": path.rsplit("/", 1)[1], "is_paused": False, "tags": []})
        if path.endswith("/dagRuns") and self.command == "POST":
            behaviour.triggered.append(json.loads(body)["conf"])
            return self._json({"dag_run_id": f"manual__{len(behaviour.triggered)}"})
        if re.fullmatch(r"/api/v2/dags/[^/]+/dagRuns/[^/]+", path):
            return self._json({"state": behaviour.run_state})
        self._json({"detail": "Not Found"}, status=404)

    def _json(self, value: Any, status: int = 200) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: AirflowBehaviour


@contextmanager
def airflow_api() -> Iterator[tuple[str, AirflowBehaviour]]:
    """(base URL, behaviour) of a stand-in api-server, stopped (and any hanging request let go) at exit."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.behaviour = behaviour = AirflowBehaviour()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", behaviour
    finally:
        behaviour.release.set()
        server.shutdown()
        server.server_close()
