"""An HTTP client for plain-HTTP servers: HTTP/1.1 on asyncio streams, in this module.

Local model servers (Ollama, vLLM, LM Studio, llama.cpp) speak plain HTTP on
the same machine, where the client's own cost is what a user waits for, at
start-up and on every request. This client imports nothing beyond asyncio
(httpx and its HTTP/1.1 engine are about a third of a fresh ``victor run``),
sends a request in one write and reads the answer with the stream reader's
own line and block reads. The provider uses it for ``http://`` URLs with no
proxy in the environment; TLS, proxies and HTTP/2 go through httpx
(:mod:`victor_openai_provider._httpx`).

It reads what HTTP/1.1 servers send: a status line and headers (informational
``1xx`` answers skipped), then a body framed by ``Transfer-Encoding: chunked``
(chunk extensions and trailers read and dropped), ``Content-Length``, or the
end of the connection; ``204`` and ``304`` have none.

- At most ``max_connections`` connections are in use at once (a request
  beyond them waits for one); they are kept alive and reused (HTTP/1.1
  without ``Connection: close``), at most ``max_keepalive`` idle at once; a
  body closed before its end is read on for up to 50 ms and 64 KiB (the rest
  of an SSE stream after ``[DONE]``), else its connection is dropped; a connection the server closed
  while idle is dropped before reuse, and a request whose reused connection
  turns out dead before any byte of the answer arrived is sent once more on a
  new connection.
- ``timeout`` applies to each step: waiting for a free connection,
  connecting, writing the request, reading the answer's head, and reading
  each piece of its body (a chunk, or a block of a framed body)
  (:class:`~victor_openai_provider._http.TimedOut`).
- Faults are :class:`~victor_openai_provider._http.HttpError`:
  :class:`~victor_openai_provider._http.ConnectFailed` when no connection is
  made, the base class for a connection lost, a malformed answer (a bad
  status line, header or chunk size; headers over 64 KiB; conflicting
  ``Content-Length`` values; a transfer coding other than ``chunked``) or
  one cut short.
- Bodies in ``gzip`` or ``deflate`` (asked for as ``identity``, but sent anyway
  by some servers) are decoded; another content coding is an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from victor_openai_provider._http import Answer, ConnectFailed, HttpError, TimedOut

__all__ = ["PlainHttpClient"]

T = TypeVar("T")

_READ_SIZE = 65536
#: Most bytes of a status line and headers (each line, and all of them).
_HEAD_LIMIT = 65536
#: ``asyncio.timeout`` (Python 3.11+) runs in the calling task; ``wait_for`` makes a task.
_TIMEOUT: Any = getattr(asyncio, "timeout", None)
#: What closing an unfinished body waits for the rest of it, at most.
_DRAIN_SECONDS = 0.05
_DRAIN_BYTES = 65536
_USER_AGENT = "victor-openai-provider"
_CUT = "the server closed the connection before the end of the answer"
_HEX = b"0123456789abcdefABCDEF"
#: Characters left as they are in a request target (the rest percent-encoded).
_TARGET_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _TARGET_SAFE + "?"


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


class _NoAnswer(HttpError):
    """The connection ended before a byte of the answer (a reused one may be stale)."""


def _malformed(what: str, value: bytes) -> HttpError:
    return HttpError(f"malformed answer: {what} {value[:80]!r}")


class _Connection:
    """One kept-alive TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def alive(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()

    async def line(self, *, first: bool = False) -> bytes:
        """One line with its end; b"" when the connection ended first.

        ``first``: the answer's first line, so a connection lost before it is
        a :class:`_NoAnswer`.
        """
        try:
            return await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise HttpError(_CUT) from None
            return b""
        except asyncio.LimitOverrunError:
            raise HttpError(f"malformed answer: a line over {_HEAD_LIMIT} bytes") from None
        except OSError as exc:
            lost = _NoAnswer if first else HttpError
            raise lost(f"connection lost while reading: {exc or type(exc).__name__}") from None

    async def block(self, most: int) -> bytes:
        """Up to ``most`` bytes, as soon as any arrive; b"" when the connection ended."""
        try:
            return await self.reader.read(most)
        except OSError as exc:
            raise HttpError(f"connection lost while reading: {exc or type(exc).__name__}") from None


#: An answer's status, reason, HTTP version and headers (lower-case names).
_Head = tuple[int, str, bytes, dict[str, str]]


async def _read_head(conn: _Connection) -> _Head:
    """The final (not ``1xx``) status, reason, version and headers of an answer."""
    first = True
    while True:
        line = await conn.line(first=first)
        if not line:
            if first:
                raise _NoAnswer("the server closed the connection without answering")
            raise HttpError(_CUT)
        first = False
        version, _, rest = line.rstrip(b"\r\n").partition(b" ")
        code, _, reason = rest.partition(b" ")
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
            raise _malformed("status line", line)
        headers: dict[str, str] = {}
        size = len(line)
        last = ""
        while True:
            line = await conn.line()
            if not line:
                raise HttpError(_CUT)
            size += len(line)
            if size > _HEAD_LIMIT:
                raise HttpError(f"malformed answer: headers over {_HEAD_LIMIT} bytes")
            if line in (b"\r\n", b"\n"):
                break
            if line[:1] in (b" ", b"\t"):  # an obsolete folded line continues the last header
                if not last:
                    raise _malformed("header", line)
                headers[last] += " " + line.strip().decode("latin-1")
                continue
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or b" " in name:
                raise _malformed("header", line)
            key = name.decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
            last = key
        status = int(code)
        if 100 <= status < 200 and status != 101:
            continue  # 100 Continue, 103 Early Hints: the answer follows
        return status, reason.decode("latin-1"), version, headers


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",") if token.strip()]


class _PlainAnswer(Answer):
    """The answer's body, read as it arrives; its connection goes back to the pool at its end."""

    def __init__(
        self,
        client: PlainHttpClient,
        conn: _Connection,
        head: _Head,
        timeout: float | None,
    ) -> None:
        status, reason, version, headers = head
        super().__init__(status, reason, headers)
        self._client = client
        self._conn: _Connection | None = conn
        self._timeout = timeout
        self._complete = False
        self._left = 0  # bytes left of a Content-Length body or of the current chunk
        self._chunked = False
        self._until_close = False
        self._crlf_due = False  # a chunk's data was read: its CRLF comes next
        connection = _tokens(headers.get("connection", ""))
        self._keep = version == b"HTTP/1.1" and "close" not in connection
        coding = headers.get("transfer-encoding")
        if status in (204, 304):
            self._complete = True
        elif coding is not None:
            if _tokens(coding) != ["chunked"]:
                raise HttpError(
                    f"malformed answer: transfer encoding {coding!r} (accepted: chunked)"
                )
            self._chunked = True
        elif "content-length" in headers:
            values = set(_tokens(headers["content-length"]))
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise HttpError(f"malformed answer: content length {headers['content-length']!r}")
            self._left = int(values.pop())
            self._complete = self._left == 0
        else:
            self._until_close = True
            self._keep = False
        self._decoder = _decoder(headers.get("content-encoding", ""))

    async def _raw(self) -> bytes:
        """The next piece of the body as sent (b"" at its end)."""
        conn = self._conn
        if conn is None or self._complete:
            return b""
        if self._until_close:
            data = await conn.block(_READ_SIZE)
            if not data:
                self._complete = True
            return data
        if self._chunked and self._left == 0:
            if self._crlf_due:
                end = await conn.line()
                if end not in (b"\r\n", b"\n"):
                    raise HttpError(_CUT) if not end else _malformed("chunk end", end)
                self._crlf_due = False
            line = await conn.line()
            if not line:
                raise HttpError(_CUT)
            digits = line.split(b";", 1)[0].strip()
            if not digits or len(digits) > 16 or digits.strip(_HEX):
                raise _malformed("chunk size", line)  # int(x, 16) would take "0x1f", "+1"
            size = int(digits, 16)
            if size == 0:
                while True:  # trailers, up to the blank line
                    line = await conn.line()
                    if not line:
                        raise HttpError(_CUT)
                    if line in (b"\r\n", b"\n"):
                        break
                self._complete = True
                return b""
            self._left = size
        data = await conn.block(min(self._left, _READ_SIZE))
        if not data:
            raise HttpError(_CUT)
        self._left -= len(data)
        if self._left == 0:
            if self._chunked:
                self._crlf_due = True
            else:
                self._complete = True
        return data

    async def _chunks(self) -> AsyncIterator[bytes]:
        decoder, timeout = self._decoder, self._timeout
        while True:
            data = await _within(self._raw(), timeout, "read")
            if not data:
                if decoder is not None:
                    rest = decoder.flush()
                    if rest:
                        yield rest
                return
            if decoder is not None:
                data = _decode(decoder, data)
            if data:
                yield data

    async def aclose(self) -> None:
        conn = self._conn
        if conn is None:
            return
        if not self._complete and not self._until_close:
            # A reader that stops at the end of what it wanted (an SSE stream's
            # [DONE]) leaves the body's last bytes, usually already on their
            # way: take them, briefly, so the connection can be kept.
            try:
                await _within(self._drain(), _DRAIN_SECONDS, "drain")
            except HttpError:
                pass
            except BaseException:
                await self.abort()
                raise
        self._conn = None
        self._client._release(conn, reusable=self._complete and self._keep)

    async def _drain(self) -> None:
        left = _DRAIN_BYTES
        while left > 0 and not self._complete:
            left -= len(await self._raw())

    async def abort(self) -> None:
        """Drop the connection at once (the rest of the body will not be read)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            self._client._slots.release()


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


def _header_line(name: str, value: str) -> bytes:
    if any(c in value for c in "\r\n\0") or not name or any(c in name for c in " :\r\n\0"):
        raise ValueError(f"header {name!r} has a line break or a NUL in it (not allowed)")
    return f"{name}: {value}\r\n".encode("latin-1")


class PlainHttpClient:
    """HTTP/1.1 over asyncio streams to one ``http://`` server (see the module documentation).

    Args:
        base_url: ``http://host[:port][/path][?query]``; request paths are joined to it.
        headers: sent with every request (``Authorization``, ``Accept``, ...).
        timeout: seconds each step of a request may take (None: no limit), waiting
            for a free connection included.
        max_connections: most connections in use at once; a request beyond them
            waits for one to be free (``TimedOut("pool")`` after ``timeout``).
        max_keepalive: most idle connections kept for reuse.

    Raises:
        ValueError: ``base_url`` is not an ``http://`` URL with a host, or a header
            holds a line break.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] = {},
        timeout: float | None = None,
        max_connections: int = 20,
        max_keepalive: int = 20,
    ) -> None:
        parts = urlsplit(base_url)
        try:
            host, port = parts.hostname, parts.port or 80
        except ValueError:
            host = None
        if parts.scheme.lower() != "http" or not host:
            raise ValueError(f"PlainHttpClient speaks http:// only, to a host (got {base_url!r})")
        self.base_url = base_url
        self._host = host
        self._port = port
        self._prefix = quote(parts.path.rstrip("/"), safe=_TARGET_SAFE)
        self._query = quote(parts.query, safe=_QUERY_SAFE)
        fixed = {
            "Host": parts.netloc.rpartition("@")[2],
            "User-Agent": _USER_AGENT,
            "Accept-Encoding": "identity",
        }
        lower = {name.lower(): name for name in fixed}
        for name, value in headers.items():
            fixed.pop(lower.get(name.lower(), name), None)
            fixed[name] = value
        self._head = b"".join(_header_line(name, value) for name, value in fixed.items())
        self._timeout = timeout
        self._max_keepalive = max(0, int(max_keepalive))
        # One slot per connection in use: an answer holds its slot until its
        # connection is released or dropped, so no more than max_connections
        # sockets are ever open (a new one is opened only when none is idle).
        self._slots = asyncio.Semaphore(max(1, int(max_connections)))
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
        target = f"{self._prefix}/{quote(path.lstrip('/'), safe=_QUERY_SAFE)}"
        if self._query:
            target += f"?{self._query}"
        request = b"".join(
            (
                f"POST {target} HTTP/1.1\r\n".encode("latin-1"),
                self._head,
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )
        if self._slots.locked():  # every connection is in use: wait, within the timeout
            await _within(self._slots.acquire(), self._timeout, "pool")
        else:
            await self._slots.acquire()
        try:
            answer = await self._request(request)
        except BaseException:
            self._slots.release()
            raise
        return answer if stream else await answer.whole()

    async def _request(self, request: bytes) -> _PlainAnswer:
        conn = self._checkout()
        if conn is not None:
            try:
                return await self._exchange(conn, request)
            except _NoAnswer:
                conn.close()
                # The server closed the kept-alive connection as we reused it:
                # nothing of an answer came back, so send it once more.
            except BaseException:
                conn.close()
                raise
        conn = await self._connect()
        try:
            return await self._exchange(conn, request)
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
                asyncio.open_connection(self._host, self._port, limit=_HEAD_LIMIT),
                self._timeout,
                "connect",
            )
        except OSError as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from None
        return _Connection(reader, writer)

    async def _exchange(self, conn: _Connection, request: bytes) -> _PlainAnswer:
        try:
            conn.writer.write(request)
            await _within(conn.writer.drain(), self._timeout, "write")
        except OSError as exc:
            raise _NoAnswer(f"connection lost while writing: {exc or type(exc).__name__}") from None
        head = await _within(_read_head(conn), self._timeout, "read")
        return _PlainAnswer(self, conn, head, self._timeout)

    def _release(self, conn: _Connection, *, reusable: bool) -> None:
        self._slots.release()
        if reusable and not self._closed and len(self._idle) < self._max_keepalive and conn.alive():
            self._idle.append(conn)
            return
        conn.close()

    async def aclose(self) -> None:
        """Close every idle connection; later requests are refused (idempotent)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
