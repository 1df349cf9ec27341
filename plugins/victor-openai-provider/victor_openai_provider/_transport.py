"""An HTTP client for plain-HTTP servers: HTTP/1.1 with h11 on asyncio streams.

Local model servers (Ollama, vLLM, LM Studio, llama.cpp) speak plain HTTP on
the same machine, where the client's own cost is what a user waits for, at
start-up and on every request: httpx (with httpcore on anyio) takes about a
millisecond per request beyond the server's time on a small machine and a
third of a fresh ``victor run`` to import; this client a third of that
millisecond, and imports only h11. The provider uses it for ``http://`` URLs
with no proxy in the environment; TLS, proxies and HTTP/2 go through httpx
(:mod:`victor_openai_provider._httpx`).

- Connections are kept alive and reused, at most ``max_keepalive`` idle at once;
  a body closed before its end is read on for up to 50 ms and 64 KiB (the
  rest of an SSE stream after ``[DONE]``), else its connection is dropped;
  a connection the server closed while idle is dropped before reuse, and a
  request whose reused connection turns out dead before any byte of the
  answer arrived is sent once more on a new connection.
- ``timeout`` applies to each step: connecting, writing the request, and
  every read of the answer (:class:`~victor_openai_provider._http.TimedOut`).
- Faults are :class:`~victor_openai_provider._http.HttpError`:
  :class:`~victor_openai_provider._http.ConnectFailed` when no connection is
  made, the base class for a connection lost, a malformed answer or one cut
  short.
- Bodies in ``gzip`` or ``deflate`` (asked for as ``identity``, but sent anyway
  by some servers) are decoded; another content coding is an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import h11

from victor_openai_provider._http import Answer, ConnectFailed, HttpError, TimedOut

__all__ = ["PlainHttpClient"]

T = TypeVar("T")

_READ_SIZE = 65536
#: ``asyncio.timeout`` (Python 3.11+) runs in the calling task; ``wait_for`` makes a task.
_TIMEOUT: Any = getattr(asyncio, "timeout", None)
#: What closing an unfinished body waits for the rest of it, at most.
_DRAIN_SECONDS = 0.05
_DRAIN_BYTES = 65536
_USER_AGENT = "victor-openai-provider"


async def _within(awaitable: Awaitable[T], seconds: float | None, phase: str) -> T:
    """``awaitable`` within ``seconds`` (None: no limit), else :class:`TimedOut`."""
    if seconds is None:
        return await awaitable
    try:
        if _TIMEOUT is not None:
            async with _TIMEOUT(seconds):
                return await awaitable
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise TimedOut(phase, seconds) from None


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
                raise HttpError(f"malformed answer: {exc}") from None
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await _within(self.reader.read(_READ_SIZE), timeout, "read")
            except OSError as exc:
                raise HttpError(
                    f"connection lost while reading: {exc or type(exc).__name__}"
                ) from None
            if data:
                self.received = True
            try:
                self.state.receive_data(data)  # b"": the server closed its end
            except h11.RemoteProtocolError as exc:
                raise HttpError(f"malformed answer: {exc}") from None


class _PlainAnswer(Answer):
    """The answer's body, read as it arrives; its connection goes back to the pool at its end."""

    def __init__(
        self, client: PlainHttpClient, conn: _Connection, event: Any, timeout: float | None
    ) -> None:
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1")  # h11 gives names in lower case
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        super().__init__(event.status_code, event.reason.decode("latin-1"), headers)
        self._client = client
        self._conn: _Connection | None = conn
        self._timeout = timeout
        self._complete = False
        self._decoder = _decoder(headers.get("content-encoding", ""))

    async def _chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        decoder = self._decoder
        while True:
            event = await conn.next_event(self._timeout)
            if isinstance(event, h11.Data):
                data = bytes(event.data)
                if decoder is not None:
                    data = _decode(decoder, data)
                if data:
                    yield data
            elif isinstance(event, h11.EndOfMessage):
                self._complete = True
                if decoder is not None:
                    rest = decoder.flush()
                    if rest:
                        yield rest
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise HttpError("the server closed the connection before the end of the answer")

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if not self._complete:
            # A reader that stops at the end of what it wanted (an SSE stream's
            # [DONE]) leaves the body's last bytes, usually already on their
            # way: take them, briefly, so the connection can be kept.
            try:
                self._complete = await _within(_drain(conn), _DRAIN_SECONDS, "drain")
            except HttpError:
                self._complete = False
            except BaseException:
                conn.close()
                raise
        self._client._release(conn, reusable=self._complete)

    def _discard(self) -> None:
        """Drop the connection at once (the body will not be read)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _decoder(coding: str) -> Any:
    """A decompressor for a ``Content-Encoding`` (None for ``identity``)."""
    coding = coding.strip().lower()
    if coding in ("", "identity"):
        return None
    import zlib

    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return zlib.decompressobj()
    raise HttpError(f"unsupported content encoding {coding!r} (accepted: identity, gzip, deflate)")


def _decode(decoder: Any, data: bytes) -> bytes:
    import zlib

    try:
        return bytes(decoder.decompress(data))
    except zlib.error as exc:
        raise HttpError(f"malformed compressed body: {exc}") from None


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


class PlainHttpClient:
    """HTTP/1.1 over asyncio streams to one ``http://`` server (see the module documentation).

    Args:
        base_url: ``http://host[:port][/path]``; request paths are joined to it.
        headers: sent with every request (``Authorization``, ``Accept``, ...).
        timeout: seconds each step of a request may take (None: no limit).
        max_keepalive: most idle connections kept for reuse.

    Raises:
        ValueError: ``base_url`` is not an ``http://`` URL with a host.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] = {},
        timeout: float | None = None,
        max_keepalive: int = 20,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise ValueError(f"PlainHttpClient speaks http:// only, to a host (got {base_url!r})")
        self.base_url = base_url
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._query = parts.query
        netloc = parts.netloc.rpartition("@")[2]
        fixed = {"host": netloc, "user-agent": _USER_AGENT, "accept-encoding": "identity"}
        fixed.update({name.lower(): value for name, value in headers.items()})
        self._headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in fixed.items()]
        self._timeout = timeout
        self._max_keepalive = max(0, int(max_keepalive))
        self._idle: list[_Connection] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"<PlainHttpClient {self.base_url!r} idle={len(self._idle)} closed={self._closed}>"

    async def send(self, path: str, body: bytes, *, stream: bool = False) -> Answer:
        """POST ``body`` (JSON) to ``path``: the answer, its body read unless ``stream``.

        Raises:
            HttpError: no connection, a timeout, a lost connection or a malformed answer.
        """
        if self._closed:
            raise HttpError("the client is closed")
        target = f"{self._prefix}/{path.lstrip('/')}"
        if self._query:
            target += f"?{self._query}"
        headers = [
            *self._headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        request = h11.Request(method="POST", target=target, headers=headers)
        answer = await self._request(request, body)
        if not stream:
            try:
                await answer.read()
            except BaseException:
                answer._discard()
                raise
            await answer.aclose()
        return answer

    async def _request(self, request: Any, body: bytes) -> _PlainAnswer:
        conn = self._checkout()
        if conn is not None:
            try:
                return await self._exchange(conn, request, body)
            except HttpError as exc:
                conn.close()
                if conn.received or isinstance(exc, TimedOut):
                    raise
                # The server closed the kept-alive connection as we reused it:
                # nothing of an answer came back, so send it once more.
            except BaseException:
                conn.close()
                raise
        conn = await self._connect()
        try:
            return await self._exchange(conn, request, body)
        except BaseException:
            conn.close()
            raise

    def _checkout(self) -> _Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.alive():
                return conn
            conn.close()
        return None

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await _within(
                asyncio.open_connection(self._host, self._port), self._timeout, "connect"
            )
        except OSError as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from None
        return _Connection(reader, writer)

    async def _exchange(self, conn: _Connection, request: Any, body: bytes) -> _PlainAnswer:
        conn.received = False
        state = conn.state
        try:
            data = state.send(request) or b""
            if body:
                data += state.send(h11.Data(data=body)) or b""
            data += state.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise HttpError(f"cannot send the request: {exc}") from None
        try:
            conn.writer.write(data)
            await _within(conn.writer.drain(), self._timeout, "write")
        except OSError as exc:
            raise HttpError(f"connection lost while writing: {exc or type(exc).__name__}") from None
        while True:
            event = await conn.next_event(self._timeout)
            if isinstance(event, h11.Response):
                return _PlainAnswer(self, conn, event, self._timeout)
            if isinstance(event, h11.ConnectionClosed):
                raise HttpError("the server closed the connection without answering")
            # h11.InformationalResponse (100 Continue and the like): the answer follows.

    def _release(self, conn: _Connection, *, reusable: bool) -> None:
        state = conn.state
        if (
            reusable
            and not self._closed
            and state.our_state is h11.DONE
            and state.their_state is h11.DONE
            and len(self._idle) < self._max_keepalive
            and conn.alive()
        ):
            state.start_next_cycle()
            self._idle.append(conn)
            return
        conn.close()

    async def aclose(self) -> None:
        """Close every idle connection; later requests are refused (idempotent)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
