"""A small real HTTP server speaking the OpenAI chat-completions protocol, for tests and benchmarks of the
endpoint path: a fixed latency per request, a plan of refusals (HTTP status and Retry-After for the first
requests), and a record of what arrived and how many requests were in flight at once. It answers with text
of its own (a deterministic function of the prompt and seed) or forwards to an upstream server (the real
llama.cpp one), so a 429 storm can be put in front of a real model.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.request import Request, urlopen


def echo_reply(body: dict[str, Any]) -> str:
    """A distinct explanation-like sentence per (prompt, seed), so filters see varied text."""
    digest = hashlib.sha256(json.dumps([body["messages"], body.get("seed")]).encode()).hexdigest()
    words = ["scene", "people", "action", "place", "object", "weather", "animal", "crowd", "street", "water"]
    picked = " and ".join(words[int(c, 16) % len(words)] for c in digest[:3])
    return f"The label holds because the {picked} in one sentence match the other ({digest[:6]})."


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # socketserver's default listen backlog of 5 resets connections beyond ~16 at once


@dataclass
class Arrival:
    index: int
    at: float
    status: int
    seed: int | None
    prompt: str


@dataclass
class OpenAIStub:
    """``refusals``: the status to answer the i-th request with (429/5xx), in arrival order; later requests are
    served. ``retry_after`` goes out with every refusal (None: no header)."""

    latency: float = 0.25
    refusals: list[int] = field(default_factory=list)
    retry_after: float | None = 1.0
    upstream: str | None = None
    gather: int = 0  # hold every request until this many are in flight (at most 10 s), then answer them all
    reply: Callable[[dict[str, Any]], str] = echo_reply
    arrivals: list[Arrival] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._gathered = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def served(self) -> int:
        return sum(a.status == 200 for a in self.arrivals)

    def __enter__(self) -> Self:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload, headers = stub._answer(body)
                self._send(status, payload, headers)

            def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict, dict[str, str]]:
        with self._lock:
            index = len(self.arrivals)
            status = self.refusals[index] if index < len(self.refusals) else 200
            self.arrivals.append(Arrival(index, time.monotonic(), status, body.get("seed"),
                                         body["messages"][-1]["content"]))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.gather:
                self._gathered.notify_all()
                self._gathered.wait_for(lambda: self.max_in_flight >= self.gather, timeout=10)
        try:
            time.sleep(self.latency)
            if status != 200:
                headers = {"Retry-After": f"{self.retry_after:g}"} if self.retry_after is not None else {}
                return status, {"error": {"message": f"planned refusal {status}", "type": "stub"}}, headers
            if self.upstream:
                return 200, self._forward(body), {}
            text = self.reply(body)
            return 200, {"id": f"stub-{index}", "object": "chat.completion", "created": int(time.time()),
                         "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop",
                                                              "message": {"role": "assistant", "content": text}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": len(text.split()),
                                   "total_tokens": 1 + len(text.split())}}, {}
        finally:
            with self._lock:
                self.in_flight -= 1

    def _forward(self, body: dict[str, Any]) -> dict:
        request = Request(f"{self.upstream}/chat/completions", json.dumps(body).encode(),
                          {"Content-Type": "application/json"})
        with urlopen(request, timeout=300) as response:
            return json.loads(response.read())
