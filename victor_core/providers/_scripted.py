"""A scripted model: replies given in advance, in-process or as an OpenAI-compatible server.

:class:`ScriptedModel` answers from a list of replies (one per request, in
order) or a function of the request. A reply is text (``str``), tool calls
(``[tool_call("read_file", {"path": "a.py"})]``), both (``{"text": ...,
"tool_calls": [...]}``), a :class:`~victor_core.providers.ModelReply`, or a
:class:`ScriptedFault` (an HTTP error, a cut or malformed stream, a delay).

In process it is a provider (``name``, ``complete``, ``stream``, ``reply``,
``stream_reply``); :meth:`ScriptedModel.plugin` registers it in the providers
family. :class:`ScriptedServer` serves it as chat completions on 127.0.0.1 (plain
and streamed, tool-call arguments split mid-JSON across chunks, usage included),
so the real HTTP provider can be pointed at it. ``victor_core.testing``
re-exports both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import attrs

from victor_core._markers import hookimpl
from victor_core.exceptions import ProviderError
from victor_core.providers._types import ModelReply, ToolCall, Usage

__all__ = ["ScriptedFault", "ScriptedModel", "ScriptedServer", "tool_call"]


@attrs.define(frozen=True, kw_only=True)
class ScriptedFault:
    """A reply that misbehaves.

    Args:
        status: answer with this HTTP status (in process: a ProviderError).
        retry_after: the ``Retry-After`` header sent with ``status``.
        cut_after: a stream stops after this many events, without its end (a plain
            answer is cut mid-body).
        malformed: a stream carries a ``data:`` line that is not JSON.
        delay: seconds before answering.
        then: what to answer after the fault (cut, malformed and delay only).
    """

    status: int | None = None
    retry_after: str | None = None
    cut_after: int | None = None
    malformed: bool = False
    delay: float = 0.0
    then: Any = ""


#: What a scripted reply may be.
ReplySpec = str | ModelReply | Sequence[ToolCall] | Mapping[str, Any] | ScriptedFault
#: ``script(messages, tools) -> reply``: a scripted model given as a function.
ScriptFunction = Callable[[list[dict[str, Any]], list[dict[str, Any]]], ReplySpec]

_counter = iter(range(1, 1 << 62))


def tool_call(
    name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str = ""
) -> ToolCall:
    """A tool call for a script: ``tool_call("read_file", {"path": "a.py"})``.

    ``arguments`` is a mapping (sent as JSON) or raw text (sent as is, even
    when it is not valid JSON); ``id`` defaults to a fresh ``call_<n>``.
    """
    text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {}))
    return ToolCall(id=id or f"call_{next(_counter)}", name=name, arguments=text)


def _as_reply(spec: Any, messages: Sequence[Mapping[str, Any]]) -> ModelReply:
    if isinstance(spec, ModelReply):
        reply = spec
    elif isinstance(spec, str):
        reply = ModelReply(text=spec, finish_reason="stop")
    elif isinstance(spec, Mapping):
        calls = tuple(spec.get("tool_calls") or ())
        reply = ModelReply(
            text=str(spec.get("text") or ""),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
        )
    elif isinstance(spec, Sequence) and all(isinstance(c, ToolCall) for c in spec):
        reply = ModelReply(tool_calls=tuple(spec), finish_reason="tool_calls")
    else:
        raise ProviderError(
            f"scripted reply {spec!r} is none of: str, ModelReply, a list of tool calls, "
            "a mapping with text and tool_calls, ScriptedFault",
            provider="scripted",
        )
    if reply.usage.prompt_tokens is None:
        prompt = sum(len(str(m.get("content") or "").split()) + 4 for m in messages)
        completion = len(reply.text.split()) + sum(
            len(c.arguments) // 4 + 4 for c in reply.tool_calls
        )
        reply = attrs.evolve(reply, usage=Usage(prompt_tokens=prompt, completion_tokens=completion))
    return reply


class ScriptedModel:
    """A model whose replies are given in advance (see the module documentation).

    Args:
        replies: a list of replies, one per request in order, or a function
            ``script(messages, tools) -> reply``.
        name: the provider name it answers to (``settings.provider``).

    Attributes:
        requests: every request received: ``{"messages": [...], "tools": [...], "params": {...}}``.
    """

    def __init__(
        self, replies: Sequence[ReplySpec] | ScriptFunction, *, name: str = "scripted"
    ) -> None:
        self.name = name
        self._script: ScriptFunction | None = replies if callable(replies) else None
        self._replies: list[Any] = [] if callable(replies) else list(replies)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ScriptedModel name={self.name!r} requests={len(self.requests)}>"

    def next_spec(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
    ) -> Any:
        """Record the request and return its scripted reply (unconverted).

        Raises:
            ProviderError: the list of replies is used up.
        """
        sent = [dict(m) for m in messages]
        offered = [dict(t) for t in tools]
        with self._lock:
            self.requests.append({"messages": sent, "tools": offered, "params": dict(params)})
            index = len(self.requests) - 1
            if self._script is not None:
                return self._script(sent, offered)
            if index >= len(self._replies):
                raise ProviderError(
                    f"scripted model {self.name!r} has no reply left for request {index + 1} "
                    f"({len(self._replies)} scripted)",
                    provider=self.name,
                )
            return self._replies[index]

    async def reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        **params: Any,
    ) -> ModelReply:
        """The next scripted reply (a fault raises :class:`ProviderError`)."""
        spec = self.next_spec(messages, tools, params)
        if isinstance(spec, ScriptedFault):
            if spec.delay:
                await asyncio.sleep(spec.delay)
            if spec.status is not None or spec.cut_after is not None or spec.malformed:
                raise ProviderError(
                    f"{self.name}: scripted fault {spec!r}", provider=self.name, status=spec.status
                )
            spec = spec.then
        return _as_reply(spec, messages)

    async def stream_reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        **params: Any,
    ) -> AsyncIterator[str | ModelReply]:
        """The next scripted reply's text word by word, then the reply."""
        reply = await self.reply(messages, tools=tools, **params)
        for chunk in _words(reply.text):
            yield chunk
        yield reply

    async def complete(self, messages: Sequence[Mapping[str, Any]], **params: Any) -> str:
        """The next scripted reply's text."""
        return (await self.reply(messages, **params)).text

    async def stream(
        self, messages: Sequence[Mapping[str, Any]], **params: Any
    ) -> AsyncIterator[str]:
        """The next scripted reply's text, word by word."""
        async for item in self.stream_reply(messages, **params):
            if isinstance(item, str):
                yield item

    async def aclose(self) -> None:
        """Nothing to release."""

    def plugin(self) -> object:
        """A plugin offering this model in the providers family (``plugin_manager.register``)."""
        model = self

        class _ScriptedPlugin:
            @hookimpl
            def victor_providers(self) -> list[Any]:
                return [model]

        return _ScriptedPlugin()


def _words(text: str) -> list[str]:
    if not text:
        return []
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


# -- the HTTP server ----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10  # idle keep-alive connections end, so their threads do too

    def setup(self) -> None:
        super().setup()
        # Without it, Nagle's algorithm and delayed ACKs add ~40 ms per kept-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.owner._lock:
            self.server.owner.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default request log on stderr."""

    def _send(self, status: int, payload: bytes, headers: Mapping[str, str] = {}) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path.rstrip("/") == "/v1/models":
            doc = {"object": "list", "data": [{"id": owner.model.name, "object": "model"}]}
            self._send(200, json.dumps(doc).encode())
        else:
            self._send(404, b'{"error": {"message": "no such route"}}')

    def do_POST(self) -> None:
        arrived = time.monotonic()
        try:
            self._post()
        finally:
            owner = self.server.owner
            with owner._lock:
                owner.timings.append((arrived, time.monotonic()))

    def _post(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
            return
        try:
            body = json.loads(raw or b"{}")
            messages = list(body.get("messages") or [])
            tools = list(body.get("tools") or [])
        except (ValueError, AttributeError, TypeError):
            self._send(400, b'{"error": {"message": "body is not a JSON object"}}')
            return
        with owner._lock:
            owner.bodies.append(body)
        params = {k: v for k, v in body.items() if k not in ("messages", "tools")}
        try:
            spec = owner.model.next_spec(messages, tools, params)
        except ProviderError as exc:
            self._send(500, json.dumps({"error": {"message": str(exc)}}).encode())
            return
        fault = spec if isinstance(spec, ScriptedFault) else None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                doc = {"error": {"message": f"scripted status {fault.status}"}}
                self._send(fault.status, json.dumps(doc).encode(), headers)
                return
            spec = fault.then
        if owner.delay:
            time.sleep(owner.delay)
        try:
            reply = _as_reply(spec, messages)
        except ProviderError as exc:
            self._send(500, json.dumps({"error": {"message": str(exc)}}).encode())
            return
        model = str(body.get("model") or owner.model.name)
        if body.get("stream"):
            self._stream(reply, model, fault)
        else:
            self._whole(reply, model, fault)

    def _whole(self, reply: ModelReply, model: str, fault: ScriptedFault | None) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [c.to_message() for c in reply.tool_calls]
        doc = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
            "usage": reply.usage.to_dict(),
        }
        payload = json.dumps(doc).encode()
        owner = self.server.owner
        if owner.chunk_delay:
            # A model takes as long to write a whole answer as to stream it.
            time.sleep(owner.chunk_delay * len(_stream_events(reply, model, owner.argument_piece)))
        if fault is not None and (fault.cut_after is not None or fault.malformed):
            # Promise the whole body, send half of it, and hang up.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self._hang_up()
            return
        self._send(200, payload)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _stream(self, reply: ModelReply, model: str, fault: ScriptedFault | None) -> None:
        owner = self.server.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        events = _stream_events(reply, model, owner.argument_piece)
        self._chunk(b": scripted\n\n")
        for index, event in enumerate(events):
            if fault is not None and fault.cut_after is not None and index >= fault.cut_after:
                self._hang_up()
                return
            if fault is not None and fault.malformed and index == 1:
                self._chunk(b"data: {this is not json\n\n")
            self._chunk(f"data: {json.dumps(event)}\n\n".encode())
            if owner.chunk_delay:
                time.sleep(owner.chunk_delay)
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _stream_events(reply: ModelReply, model: str, piece: int) -> list[dict[str, Any]]:
    """The chunks of a streamed reply: text word by word, tool calls split mid-JSON."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    events = [chunk({"role": "assistant", "content": ""})]
    events.extend(chunk({"content": word}) for word in _words(reply.text))
    for index, call in enumerate(reply.tool_calls):
        head = {"index": index, "id": call.id, "type": "function"}
        events.append(
            chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]})
        )
        args = call.arguments
        for start in range(0, len(args), max(1, piece)):
            part = {"index": index, "function": {"arguments": args[start : start + piece]}}
            events.append(chunk({"tool_calls": [part]}))
    events.append(chunk({}, reply.finish_reason or "stop"))
    usage = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": model}
    events.append({**usage, "choices": [], "usage": reply.usage.to_dict()})
    return events


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer is not worth a traceback on stderr."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ScriptedServer:
    """A :class:`ScriptedModel` served as OpenAI chat completions on 127.0.0.1.

    Args:
        model: the model, or its replies (a list or a function).
        delay: seconds before every answer (a model's think time).
        chunk_delay: seconds between streamed events; a whole (non-streamed)
            answer waits as long as its stream would have taken.
        argument_piece: characters of tool-call arguments per streamed event.

    Use it as a context manager (``with ScriptedServer([...]) as server:``)
    and point a provider at :attr:`base_url`. ``bodies`` holds every request
    body received, ``connections`` counts TCP connections, and ``timings``
    has each chat request's ``(arrived, answered)`` times on the
    :func:`time.monotonic` clock (shared by the processes of one machine).
    """

    def __init__(
        self,
        model: ScriptedModel | Sequence[ReplySpec] | ScriptFunction,
        *,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        argument_piece: int = 7,
    ) -> None:
        self.model = model if isinstance(model, ScriptedModel) else ScriptedModel(model)
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.argument_piece = argument_piece
        self.bodies: list[dict[str, Any]] = []
        self.timings: list[tuple[float, float]] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL to give the provider (``provider_base_url``)."""
        if self._server is None:
            raise ProviderError("ScriptedServer is not started; use start() or a with block")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The requests the model answered (see :attr:`ScriptedModel.requests`)."""
        return self.model.requests

    def start(self) -> ScriptedServer:
        """Start serving in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
