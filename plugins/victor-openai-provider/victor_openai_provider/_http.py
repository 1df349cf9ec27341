"""What the provider needs of HTTP: one request, one answer, three kinds of fault.

Two clients implement it: :class:`~victor_openai_provider._transport.PlainHttpClient`
(HTTP/1.1 on asyncio streams, for ``http://`` servers with no proxy:
the local model servers) and :class:`~victor_openai_provider._httpx.HttpxClient`
(httpx, for TLS, proxies and injected transports). The provider speaks to
either through :class:`Client`, and never imports httpx for a plain-HTTP
server: httpx and what it pulls in are a third of a fresh ``victor run``.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

__all__ = ["Answer", "Client", "ConnectFailed", "HttpError", "TimedOut"]


class HttpError(Exception):
    """A request failed below HTTP: the connection broke or the answer was malformed."""


class ConnectFailed(HttpError):
    """No connection to the server (refused, unreachable, name not found)."""


class TimedOut(HttpError):
    """One step of a request took longer than its timeout.

    Attributes:
        phase: ``"connect"``, ``"write"``, ``"read"`` or ``"pool"``.
    """

    def __init__(self, phase: str, seconds: float | None = None) -> None:
        limit = f" after {seconds:g} s" if seconds is not None else ""
        super().__init__(f"{phase} timed out{limit}")
        self.phase = phase


class Answer:
    """An HTTP answer: its status and headers, and a body read whole or line by line.

    ``headers`` maps lower-case names to values (repeated headers joined with
    ``", "``). Subclasses supply :meth:`_chunks` (the decoded body, as it
    arrives) and :meth:`aclose`.
    """

    def __init__(self, status: int, reason: str, headers: Mapping[str, str]) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self._body: bytes | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status} {self.reason}>"

    def _chunks(self) -> AsyncIterator[bytes]:  # pragma: no cover - abstract
        raise NotImplementedError

    async def aclose(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def abort(self) -> None:
        """Close after a failed read: at once, without waiting for the rest of the body."""
        await self.aclose()

    async def whole(self) -> Answer:
        """Read the body, then close: what a client's ``send`` returns unless streaming."""
        try:
            await self.read()
        except BaseException:
            await self.abort()
            raise
        await self.aclose()
        return self

    async def read(self) -> bytes:
        """The whole body (read once; later calls return it again)."""
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self._chunks()])
        return self._body

    @property
    def charset(self) -> str:
        """The body's text encoding: the ``charset`` of its content type, else UTF-8."""
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                name = value.strip().strip('"')
                try:
                    return codecs.lookup(name).name
                except LookupError:
                    break
        return "utf-8"

    @property
    def text(self) -> str:
        """The body read so far (:meth:`read` first), as text."""
        return (self._body or b"").decode(self.charset, errors="replace")

    def json(self) -> Any:
        """The body read so far, parsed as JSON (raises ``ValueError`` if it is not)."""
        return json.loads(self._body or b"")

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines as they arrive, without their ends (``\\r\\n``, ``\\n`` or ``\\r``)."""
        decoder = codecs.getincrementaldecoder(self.charset)(errors="replace")
        pending = ""
        after_cr = False  # the last chunk ended with "\r": a "\n" opening the next is its pair
        async for chunk in self._chunks():
            text = decoder.decode(chunk)
            if not text:
                continue
            if after_cr and text[0] == "\n":
                text = text[1:]
            after_cr = text.endswith("\r")
            parts = (pending + text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
            pending = parts.pop()
            for line in parts:
                yield line
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending


class Client(Protocol):
    """What the provider asks of an HTTP client (paths are relative to its base URL)."""

    async def send(self, path: str, body: bytes, *, stream: bool = False) -> Answer:
        """POST ``body`` (JSON) to ``path``: the answer, its body read unless ``stream``.

        Raises:
            HttpError: the request could not be made or its answer not read.
        """
        ...

    async def aclose(self) -> None:
        """Close every connection (idempotent)."""
        ...
