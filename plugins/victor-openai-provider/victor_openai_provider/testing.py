"""A small OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` from a thread, plainly or as
server-sent events, and can be told to misbehave::

    with FakeChatServer() as server:
        settings = Settings(provider="openai-compatible", provider_base_url=server.base_url)
        server.fail_next = [429, 500]      # the next two requests fail, then answers come
        server.delay = 0.5                 # seconds before answering ("slow")
        server.break_after = 2             # streams break after two chunks

The answer is ``"echo: <last user message>"``; a stream sends it word by
word, ``chunk_delay`` seconds apart (a whole answer comes after as long).
The model name also selects a behaviour: ``"slow"``, ``"broken"``,
``"error500"``, ``"ratelimit"``. ``requests`` counts
requests and ``connections`` the TCP connections opened (for connection reuse).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FakeChatServer"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10  # idle keep-alive connections end, so their threads do too

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's
        # algorithm and delayed ACKs add ~40 ms to every kept-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.owner.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default request log on stderr."""

    def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        with self.server.lock:
            owner.requests += 1
            owner.bodies.append(raw)
            forced = owner.fail_next.pop(0) if owner.fail_next else None
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON"}})
            return
        model = str(body.get("model") or "")
        if forced is not None or model in ("error500", "ratelimit"):
            status = forced or (500 if model == "error500" else 429)
            headers = {"Retry-After": owner.retry_after} if status == 429 else {}
            self._json(status, {"error": {"message": f"forced {status}"}}, headers)
            return
        messages = body.get("messages") or []
        last = next(
            (m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), ""
        )
        answer = owner.answer if owner.answer is not None else f"echo: {last}"
        delay = owner.delay if owner.delay else (0.3 if model == "slow" else 0.0)
        if delay:
            time.sleep(delay)
        if body.get("stream"):
            breaks = owner.break_after if owner.break_after is not None else None
            if model == "broken" and breaks is None:
                breaks = 2
            self._stream(answer, body.get("model") or "fake", breaks)
            return
        if owner.chunk_delay:
            # A whole answer takes as long to generate as its stream.
            time.sleep(owner.chunk_delay * len(answer.split(" ")))
        self._json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": model or "fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
            },
        )

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, answer: str, model: str, break_after: int | None) -> None:
        owner = self.server.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        words = answer.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        self._chunk(b": keep-alive\n\n")
        for index, piece in enumerate(pieces):
            if break_after is not None and index >= break_after:
                # Drop the connection mid-stream, without the terminating chunk.
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            event = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            self._chunk(f"data: {json.dumps(event)}\n\n".encode())
            if owner.chunk_delay:
                time.sleep(owner.chunk_delay)
        final = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        self._chunk(f"data: {json.dumps(final)}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FakeChatServer
    lock: threading.Lock


class FakeChatServer:
    """An OpenAI-compatible chat server on 127.0.0.1 (a free port), run in a thread.

    Attributes:
        fail_next: statuses the next requests get (popped one per request).
        retry_after: the ``Retry-After`` value sent with 429 answers.
        delay: seconds before answering any request.
        chunk_delay: seconds between streamed chunks.
        break_after: streams break after this many chunks (None: never).
        answer: a fixed answer instead of the echo.
        requests, connections: counters.
        bodies: the raw request bodies received.
    """

    def __init__(self) -> None:
        self.fail_next: list[int] = []
        self.retry_after = "0"
        self.delay = 0.0
        self.chunk_delay = 0.0
        self.break_after: int | None = None
        self.answer: str | None = None
        self.requests = 0
        self.connections = 0
        self.bodies: list[bytes] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL to give the provider."""
        if self._server is None:
            raise RuntimeError("FakeChatServer is not started; use start() or a with block")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeChatServer:
        """Start serving in a background thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        server.lock = threading.Lock()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeChatServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
