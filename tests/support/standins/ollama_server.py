"""An HTTP server speaking Ollama's API (/api/chat, /api/generate, /api/embed, /api/tags) and its
OpenAI-compatible /v1 routes, on 127.0.0.1 with an ephemeral port, for the real `ollama` / `openai` clients.

Behaviour is scriptable: latency, failures for the next N calls (503, 429...), queued replies (e.g. invalid
JSON then valid), a reply function, and every call is counted.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.standins.fake_embeddings import embed_text

Responder = Callable[[dict[str, Any]], str]


def echo(request: dict[str, Any]) -> str:
    """Default reply: the last user message, prefixed, so tests can tell answers apart."""
    return f"echo: {request['messages'][-1]['content']}"


@dataclass
class OllamaBehaviour:
    """What the stand-in does next; tests change it between calls."""

    models: set[str] = field(default_factory=lambda: {"llama3.2", "nomic-embed-text"})
    digests: dict[str, str] = field(default_factory=dict)  # model -> digest in /api/tags (default: sha256 of the name)
    tags_failures: int = 0  # the next N /api/tags answer 503
    latency_s: float = 0.0
    failures: deque[int] = field(default_factory=deque)  # HTTP statuses for the next calls
    replies: deque[str] = field(default_factory=deque)  # canned chat replies, used before `responder`
    responder: Responder = echo
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 503) -> None:
        self.failures.extend([status] * count)

    def reply_with(self, *texts: str) -> None:
        self.replies.extend(texts)

    def calls_to(self, path: str) -> list[dict[str, Any]]:
        return [body for called, body in self.calls if called == path]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return None

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            return self._tags()
        if self.path == "/api/version":
            return self._send(200, {"version": "0.6.0-standin"})
        return self._send(404, {"error": f"no route {self.path}"})

    def _tags(self) -> None:
        """Ollama lists each model as `name:tag` with the digest of its manifest."""
        behaviour = self.behaviour
        with behaviour.lock:
            behaviour.calls.append((self.path, {}))
            if behaviour.tags_failures:
                behaviour.tags_failures -= 1
                return self._send(503, {"error": "scripted failure"})
        models = []
        for name in sorted(behaviour.models):
            tagged = name if ":" in name else f"{name}:latest"
            digest = behaviour.digests.get(name) or hashlib.sha256(name.encode()).hexdigest()
            models.append({"name": tagged, "model": tagged, "size": 1, "digest": digest})
        return self._send(200, {"models": models})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        behaviour = self.behaviour
        with behaviour.lock:
            behaviour.calls.append((self.path, body))
            failure = behaviour.failures.popleft() if behaviour.failures else None
            behaviour.in_flight += 1
            behaviour.max_in_flight = max(behaviour.max_in_flight, behaviour.in_flight)
        try:
            time.sleep(behaviour.latency_s)
        finally:
            with behaviour.lock:
                behaviour.in_flight -= 1
        if failure is not None:
            return self._send(failure, {"error": f"scripted failure {failure}"})
        if body.get("model") not in behaviour.models:
            return self._send(404, {"error": f'model "{body.get("model")}" not found, try pulling it first'})
        routes = {
            "/api/chat": self._chat,
            "/api/generate": self._generate,
            "/api/embed": self._embed,
            "/v1/chat/completions": self._openai_chat,
            "/v1/embeddings": self._openai_embeddings,
        }
        if self.path not in routes:
            return self._send(404, {"error": f"no route {self.path}"})
        return self._send(200, routes[self.path](body))

    @property
    def behaviour(self) -> OllamaBehaviour:
        return self.server.behaviour

    def _reply_text(self, request: dict[str, Any]) -> str:
        with self.behaviour.lock:
            canned = self.behaviour.replies.popleft() if self.behaviour.replies else None
        return canned if canned is not None else self.behaviour.responder(request)

    def _timings(self, prompt: str, answer: str) -> dict[str, Any]:
        return {
            "created_at": datetime.now(UTC).isoformat(),
            "done": True,
            "done_reason": "stop",
            "total_duration": int(self.behaviour.latency_s * 1e9) + 1_000_000,
            "load_duration": 0,
            "prompt_eval_count": len(prompt.split()),
            "prompt_eval_duration": 1,
            "eval_count": len(answer.split()),
            "eval_duration": 1,
        }

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._reply_text(body)
        prompt = " ".join(message["content"] for message in body["messages"])
        message = {"role": "assistant", "content": answer}
        return {"model": body["model"], "message": message, **self._timings(prompt, answer)}

    def _generate(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._reply_text({**body, "messages": [{"role": "user", "content": body.get("prompt", "")}]})
        return {"model": body["model"], "response": answer, **self._timings(body.get("prompt", ""), answer)}

    def _embed(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        timings = self._timings(" ".join(texts), "")
        return {"model": body["model"], "embeddings": [embed_text(text) for text in texts], **timings}

    def _openai_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._reply_text(body)
        prompt_tokens = sum(len(message["content"].split()) for message in body["messages"])
        return {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(answer.split()),
                "total_tokens": prompt_tokens + len(answer.split()),
            },
        }

    def _openai_embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        data = [
            {"object": "embedding", "index": index, "embedding": embed_text(text)}
            for index, text in enumerate(texts)
        ]
        tokens = sum(len(text.split()) for text in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "model": body["model"], "data": data, "usage": usage}

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        try:
            self.send_response(status)
        except (BrokenPipeError, ConnectionResetError):
            return
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        try:
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: OllamaBehaviour


@dataclass
class OllamaStandin:
    url: str
    behaviour: OllamaBehaviour


@contextmanager
def ollama_server(behaviour: OllamaBehaviour | None = None) -> Iterator[OllamaStandin]:
    """Serve on 127.0.0.1:<ephemeral>; yield the base URL and the behaviour to script."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.behaviour = behaviour or OllamaBehaviour()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield OllamaStandin(f"http://127.0.0.1:{server.server_address[1]}", server.behaviour)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
