"""An httpx transport for plain-HTTP servers: HTTP/1.1 with h11 on asyncio streams.

Local model servers (Ollama, vLLM, LM Studio, llama.cpp) speak plain HTTP on
the same machine, where the transport's own cost is what a user waits for:
httpx's default transport (httpcore on anyio) takes about a millisecond per
request beyond the server's time on a small machine, this one about a third
of that. It is plugged in through httpx's public transport interface, so the
client, its timeouts and its errors stay httpx's; TLS, proxies and HTTP/2 keep
the default transport (the provider uses this one only for ``http://`` URLs
with no proxy in the environment).

- Connections are kept alive and reused, at most ``max_keepalive`` idle at once;
  a body closed before its end is read on for up to 50 ms and 64 KiB (the
  rest of an SSE stream after ``[DONE]``), else its connection is dropped;
  a connection the server closed while idle is dropped before reuse, and a
  request whose reused connection turns out dead before any byte of the
  answer arrived is sent once more on a new connection.
- httpx's ``connect``, ``read`` and ``write`` timeouts apply to each
  operation (``ConnectTimeout``, ``ReadTimeout``, ``WriteTimeout``).
- Faults become httpx's errors: ``ConnectError``, ``ReadError``, ``WriteError``,
  and ``RemoteProtocolError`` for malformed answers and answers cut short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import h11
import httpx

__all__ = ["PlainHttpTransport"]

T = TypeVar("T")

_READ_SIZE = 65536
#: ``asyncio.timeout`` (Python 3.11+) runs in the calling task; ``wait_for`` makes a task.
_TIMEOUT: Any = getattr(asyncio, "timeout", None)
#: What closing an unfinished body waits for the rest of it, at most.
_DRAIN_SECONDS = 0.05
_DRAIN_BYTES = 65536


async def _within(awaitable: Awaitable[T], seconds: float | None, error: type[Exception]) -> T:
    """``awaitable`` within ``seconds`` (None: no limit), else ``error``."""
    if seconds is None:
        return await awaitable
    try:
        if _TIMEOUT is not None:
            async with _TIMEOUT(seconds):
                return await awaitable
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise error(f"timed out after {seconds:g} s") from None


class _Connection:
    """One kept-alive TCP connection and its HTTP/1.1 state."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.state = h11.Connection(h11.CLIENT)
        self.received = False  # any byte of the current answer

    def alive(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()

    async def next_event(self, timeout: float | None) -> Any:
        while True:
            try:
                event = self.state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from None
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await _within(self.reader.read(_READ_SIZE), timeout, httpx.ReadTimeout)
            except OSError as exc:
                raise httpx.ReadError(str(exc) or type(exc).__name__) from None
            if data:
                self.received = True
            try:
                self.state.receive_data(data)  # b"": the server closed its end
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from None


class _Body(httpx.AsyncByteStream):
    """The answer's body, read as it arrives; the connection goes back to the pool at its end."""

    def __init__(
        self, transport: PlainHttpTransport, key: tuple[str, int], conn: _Connection, timeout: Any
    ) -> None:
        self._transport = transport
        self._key = key
        self._conn: _Connection | None = conn
        self._timeout = timeout
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        while True:
            event = await conn.next_event(self._timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete = True
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError(
                    "the server closed the connection before the end of the answer"
                )

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if not self._complete:
            # A reader that stops at the end of what it wanted (an SSE stream's
            # [DONE]) leaves the body's last bytes, usually already on their
            # way: take them, briefly, so the connection can be kept.
            try:
                self._complete = await _within(_drain(conn), _DRAIN_SECONDS, TimeoutError)
            except (TimeoutError, httpx.HTTPError):
                self._complete = False
            except BaseException:
                conn.close()
                raise
        self._transport._release(self._key, conn, reusable=self._complete)


async def _drain(conn: _Connection) -> bool:
    """Read the rest of an answer of at most ``_DRAIN_BYTES``: whether it ended."""
    left = _DRAIN_BYTES
    while left > 0:
        event = await conn.next_event(None)
        if isinstance(event, h11.EndOfMessage):
            return True
        if not isinstance(event, h11.Data):
            return False
        left -= len(event.data)
    return False


class PlainHttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams for ``http://`` URLs (see the module documentation).

    Args:
        max_keepalive: most idle connections kept for reuse.
    """

    def __init__(self, *, max_keepalive: int = 20) -> None:
        self._max_keepalive = max(0, int(max_keepalive))
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._closed = False

    def __repr__(self) -> str:
        idle = sum(len(conns) for conns in self._idle.values())
        return f"<PlainHttpTransport idle={idle} closed={self._closed}>"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport is closed")
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(
                f"PlainHttpTransport speaks http:// only (got {url.scheme}://)"
            )
        timeouts = request.extensions.get("timeout", {})
        key = (url.host, url.port or 80)
        body = await request.aread()
        conn = self._checkout(key)
        if conn is not None:
            try:
                return await self._exchange(key, conn, request, body, timeouts)
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                conn.close()
                if conn.received:
                    raise
                # The server closed the kept-alive connection as we reused it:
                # nothing of an answer came back, so send it once more.
        conn = await self._connect(key, timeouts.get("connect"))
        try:
            return await self._exchange(key, conn, request, body, timeouts)
        except BaseException:
            conn.close()
            raise

    def _checkout(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.alive():
                return conn
            conn.close()
        return None

    async def _connect(self, key: tuple[str, int], timeout: float | None) -> _Connection:
        host, port = key
        try:
            reader, writer = await _within(
                asyncio.open_connection(host, port), timeout, httpx.ConnectTimeout
            )
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        return _Connection(reader, writer)

    async def _exchange(
        self,
        key: tuple[str, int],
        conn: _Connection,
        request: httpx.Request,
        body: bytes,
        timeouts: Any,
    ) -> httpx.Response:
        conn.received = False
        state = conn.state
        try:
            data = state.send(
                h11.Request(
                    method=request.method,
                    target=request.url.raw_path,
                    headers=list(request.headers.raw),
                )
            )
            if body:
                data += state.send(h11.Data(data=body))
            data += state.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        try:
            conn.writer.write(data or b"")
            await _within(conn.writer.drain(), timeouts.get("write"), httpx.WriteTimeout)
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from None
        read_timeout = timeouts.get("read")
        while True:
            event = await conn.next_event(read_timeout)
            if isinstance(event, h11.Response):
                break
            if isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError(
                    "the server closed the connection without answering"
                )
            # h11.InformationalResponse (100 Continue and the like): the answer follows.
        return httpx.Response(
            status_code=event.status_code,
            headers=event.headers.raw_items(),
            stream=_Body(self, key, conn, read_timeout),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": bytes(event.reason)},
        )

    def _release(self, key: tuple[str, int], conn: _Connection, *, reusable: bool) -> None:
        state = conn.state
        if (
            reusable
            and not self._closed
            and state.our_state is h11.DONE
            and state.their_state is h11.DONE
        ):
            state.start_next_cycle()
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._max_keepalive and conn.alive():
                idle.append(conn)
                return
        conn.close()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
