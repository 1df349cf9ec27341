"""The OpenAI-compatible provider: pooled HTTP client, retries, deadlines, SSE streaming.

Plain-HTTP servers (``http://``, no proxy in the environment) are reached through
:class:`~victor_openai_provider._transport.PlainHttpClient`, which imports
nothing beyond asyncio; others (TLS, proxies, an injected httpx transport) through
:class:`~victor_openai_provider._httpx.HttpxClient`.

It speaks chat completions: ``tools`` offered, ``tool_calls`` answered (whole,
or as streamed deltas assembled across chunks), usage and finish reason read.

Faults and what they become (always :class:`~victor_core.exceptions.ProviderError`):

- every attempt has a deadline for the whole request, body included
  (``timeout``), not only per read: a server trickling bytes cannot hold a call;
- connection errors, read timeouts, cut bodies, 408/409/425/429 and 5xx are
  retried (``max_retries``) with exponential backoff; a ``Retry-After`` is
  honoured up to ``max_backoff`` seconds;
- a stream is retried only until its first text chunk was handed on; after it,
  a broken stream raises, so a partial answer is never taken for a whole one;
- a malformed ``data:`` line, or a stream that ends without a finish reason
  or ``[DONE]``, is an error.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import ProviderError
from victor_core.providers import (
    PROVIDER_DEFAULTS,
    Message,
    ModelReply,
    ProviderConfig,
    ToolCall,
    Usage,
)

from victor_openai_provider._http import Answer, Client, ConnectFailed, HttpError, TimedOut

if TYPE_CHECKING:
    import httpx
    from victor_core.settings import Settings

__all__ = ["OpenAICompatibleProvider", "OpenAIProviderFactory"]

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIProviderFactory:
    """Builds :class:`OpenAICompatibleProvider` for every OpenAI-compatible provider name."""

    names: tuple[str, ...] = tuple(PROVIDER_DEFAULTS)

    def create(self, settings: Settings) -> OpenAICompatibleProvider:
        """A provider for ``settings.provider`` with the settings' pool, timeouts and retries."""
        return OpenAICompatibleProvider(ProviderConfig.from_settings(settings))


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix."""

    def __init__(self, reason: str, response: Answer | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.response = response
        self.status = response.status if response is not None else None


class OpenAICompatibleProvider:
    """A chat provider for servers speaking the OpenAI chat-completions protocol.

    Args:
        config: the provider's figures (URL, model, timeout, retries, pool).
        transport: an httpx transport, spoken to through httpx (tests); default: the
            plain-HTTP client for ``http://`` servers with no proxy, httpx's pooled
            transport for the others.
        backoff_base: seconds before the first retry; doubles each time.
        max_backoff: most seconds waited between attempts (``Retry-After`` included).

    All requests share one connection pool; at most ``config.concurrent_requests``
    run at once.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff_base: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        self.config = config
        self.name = config.name
        self._transport = transport
        self._backoff_base = backoff_base
        self._max_backoff = max_backoff
        self._client: Client | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"requests": 0, "attempts": 0, "retries": 0, "failures": 0}

    def __repr__(self) -> str:
        return (
            f"<OpenAICompatibleProvider name={self.name!r} model={self.config.model!r} "
            f"base_url={self.config.base_url!r}>"
        )

    # -- connection pool -----------------------------------------------------------------

    def _ensure_client(self) -> tuple[Client, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is not loop:
            # A pool belongs to the event loop that opened its connections; a
            # new loop (another asyncio.run) starts a new pool.
            self._client = None
        if self._client is None or self._semaphore is None:
            cfg = self.config
            headers = {"Accept": "application/json"}
            if cfg.api_key:
                headers["Authorization"] = f"Bearer {cfg.api_key}"
            options: dict[str, Any] = {
                "headers": headers,
                "timeout": cfg.timeout,
                "max_connections": cfg.pool_size + cfg.pool_max_overflow,
                "max_keepalive": cfg.pool_size,
            }
            if self._transport is None and _plain_http(cfg.base_url):
                from victor_openai_provider._transport import PlainHttpClient

                try:
                    self._client = PlainHttpClient(cfg.base_url, **options)
                except ValueError as exc:
                    raise self._error(f"cannot use base_url {cfg.base_url!r}: {exc}") from None
            else:
                from victor_openai_provider._httpx import HttpxClient

                self._client = HttpxClient(cfg.base_url, transport=self._transport, **options)
            self._semaphore = asyncio.Semaphore(cfg.concurrent_requests)
            self._loop = loop
        return self._client, self._semaphore

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- the Provider protocol (text) --------------------------------------------------------

    async def complete(self, messages: Sequence[Message], **params: Any) -> str:
        """The whole answer to ``messages`` (its text).

        Raises:
            ProviderError: a non-retryable status, or every attempt failed.
        """
        return (await self.reply(messages, **params)).text

    async def stream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[str]:
        """The answer to ``messages`` as text chunks (server-sent events).

        Raises:
            ProviderError: every attempt failed, or the stream broke before its end.
        """
        async for item in self.stream_reply(messages, **params):
            if isinstance(item, str):
                yield item

    # -- tool calling -------------------------------------------------------------------------

    async def reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        **params: Any,
    ) -> ModelReply:
        """The model's reply (text, tool calls, usage, finish reason) to ``messages``.

        Raises:
            ProviderError: a non-retryable status, a malformed answer, or every attempt
                failed.
        """
        client, semaphore = self._ensure_client()
        body = self._encode(self._body(messages, tools, dict(params), stream=False))
        self.stats["requests"] += 1
        async with semaphore:
            return await self._with_retries(lambda: self._reply_once(client, body))

    async def _reply_once(self, client: Client, body: bytes) -> ModelReply:
        async def attempt() -> ModelReply:
            answer = await client.send("chat/completions", body)
            self._check_status(answer)
            return self._parse_reply(answer)

        reply: ModelReply = await self._deadline(attempt())
        return reply

    def stream_reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        **params: Any,
    ) -> AsyncIterator[str | ModelReply]:
        """Text chunks as they arrive, then the whole :class:`ModelReply`.

        Tool-call deltas are assembled across chunks (arguments may be split
        anywhere, mid-JSON). A server that answers a streamed request with one
        JSON document (no SSE) is read as a whole reply.

        Raises:
            ProviderError: every attempt failed, or the stream broke, stalled past the
                deadline or carried a malformed event.
        """
        body = self._encode(self._body(messages, tools, dict(params), stream=True))
        return self._stream(body)

    async def _stream(self, body: bytes) -> AsyncIterator[str | ModelReply]:
        client, semaphore = self._ensure_client()
        self.stats["requests"] += 1
        async with semaphore:
            attempts = self.config.max_retries + 1
            for attempt in range(attempts):
                self.stats["attempts"] += 1
                yielded = 0
                try:
                    async for item in self._stream_once(client, body):
                        if isinstance(item, str):
                            yielded += 1
                        yield item
                    return
                except _Retry as exc:
                    if yielded or attempt + 1 >= attempts:
                        raise self._error(
                            f"stream broken after {yielded} chunks"
                            + (f" and {attempt + 1} attempts" if not yielded else "")
                            + f": {exc.reason}",
                            exc.status,
                        ) from None
                    await self._pause(attempt, exc)

    async def _stream_once(self, client: Client, body: bytes) -> AsyncIterator[str | ModelReply]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout
        try:
            answer = await self._deadline(
                client.send("chat/completions", body, stream=True), deadline
            )
        except HttpError as exc:
            raise _Retry(_describe(exc, self.config)) from None
        try:
            if answer.status >= 300:
                await self._deadline(answer.read(), deadline)
                self._check_status(answer)
            if "json" in answer.headers.get("content-type", ""):
                await self._deadline(answer.read(), deadline)
                reply = self._parse_reply(answer)
                if reply.text:
                    yield reply.text
                yield reply
                return
            assembler = _Assembler()
            lines = answer.lines().__aiter__()
            events = _sse_events(lambda: self._deadline(lines.__anext__(), deadline))
            async for event in events:
                if event == "[DONE]":
                    assembler.done = True
                    break
                text = assembler.feed(event, self)
                if text:
                    yield text
            if not assembler.finished:
                raise _Retry(f"stream ended before completion ({assembler.chunks} events)")
            yield assembler.reply()
        except HttpError as exc:
            raise _Retry(_describe(exc, self.config)) from None
        finally:
            await answer.aclose()

    # -- requests -----------------------------------------------------------------------------

    def _body(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        params: dict[str, Any],
        stream: bool,
    ) -> Any:
        body: dict[str, Any] = {"model": params.pop("model", None) or self.config.model}
        body["messages"] = [dict(m) for m in messages]
        if tools:
            body["tools"] = [dict(t) for t in tools]
        body.update(params)
        body["stream"] = stream
        if stream:
            body.setdefault("stream_options", {"include_usage": True})
        return body

    def _encode(self, body: dict[str, Any]) -> bytes:
        """The request body as JSON (strict: no NaN or infinity, which servers refuse)."""
        try:
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise self._error(f"cannot send the request as JSON: {exc}") from None
        return text.encode("utf-8")

    async def _deadline(self, awaitable: Any, deadline: float | None = None) -> Any:
        """``awaitable`` within the request's deadline (now plus ``timeout`` by default).

        On Python 3.11 and later the awaitable runs in the calling task under
        ``asyncio.timeout_at`` (``wait_for`` made a task per call: one per line of a
        stream).
        """
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self.config.timeout
        try:
            if _TIMEOUT_AT is not None:
                async with _TIMEOUT_AT(deadline):
                    return await awaitable
            return await asyncio.wait_for(awaitable, max(deadline - loop.time(), 0.0))
        except asyncio.TimeoutError:
            raise _Retry(
                f"timed out after {self.config.timeout:g} s (the deadline of the whole request)"
            ) from None

    async def _with_retries(self, once: Any) -> ModelReply:
        attempts = self.config.max_retries + 1
        last = ""
        status: int | None = None
        for attempt in range(attempts):
            self.stats["attempts"] += 1
            try:
                reply: ModelReply = await once()
                return reply
            except _Retry as exc:
                last, status = exc.reason, exc.status
                if attempt + 1 < attempts:
                    await self._pause(attempt, exc)
            except HttpError as exc:
                last, status = _describe(exc, self.config), None
                if attempt + 1 < attempts:
                    await self._pause(attempt, _Retry(last))
        raise self._error(f"request failed after {attempts} attempts: {last}", status)

    async def _pause(self, attempt: int, exc: _Retry) -> None:
        self.stats["retries"] += 1
        delay = self._backoff_base * float(2**attempt)
        if exc.response is not None:
            after = _retry_after(exc.response.headers.get("retry-after"))
            if after is not None:
                delay = after
        delay = min(max(delay, 0.0), self._max_backoff)
        import structlog

        structlog.get_logger().warning(
            "provider_retry",
            provider=self.name,
            attempt=attempt + 1,
            delay_s=delay,
            reason=exc.reason,
        )
        await asyncio.sleep(delay)

    def _check_status(self, response: Answer) -> None:
        status = response.status
        if status < 300:
            return
        text = f"HTTP {status}: {_error_text(response)}"
        if status in _RETRY_STATUS:
            raise _Retry(text, response)
        raise self._error(f"request refused: {text}", status)

    def _parse_reply(self, response: Answer) -> ModelReply:
        try:
            data = response.json()
            choice = data["choices"][0]
            message = choice["message"]
            calls = [
                ToolCall(
                    id=str(call.get("id") or f"call_{index}"),
                    name=str(call["function"]["name"]),
                    arguments=_arguments(call["function"].get("arguments")),
                )
                for index, call in enumerate(message.get("tool_calls") or ())
            ]
            return ModelReply(
                text=str(message.get("content") or ""),
                tool_calls=calls,
                usage=Usage.from_wire(data.get("usage")),
                finish_reason=choice.get("finish_reason"),
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._error(
                f"unexpected response from {self.config.base_url}: {exc!r}",
                response.status,
            ) from None

    def _error(self, message: str, status: int | None = None) -> ProviderError:
        self.stats["failures"] += 1
        return ProviderError(f"{self.name}: {message}", provider=self.name, status=status)


#: ``asyncio.timeout_at`` (Python 3.11+), or None.
_TIMEOUT_AT: Any = getattr(asyncio, "timeout_at", None)


class _Assembler:
    """Builds a :class:`ModelReply` from streamed chat-completion chunks."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.done = False
        self.chunks = 0

    @property
    def finished(self) -> bool:
        return self.done or self.finish_reason is not None

    def feed(self, event: str, provider: OpenAICompatibleProvider) -> str:
        """Take one ``data:`` payload; return its text ("" for none)."""
        self.chunks += 1
        try:
            doc = json.loads(event)
            if not isinstance(doc, dict):
                raise TypeError(f"a {type(doc).__name__}, not an object")
            if doc.get("error"):
                raise provider._error(f"the stream carried an error: {doc['error']!r}")
            if doc.get("usage"):
                self.usage = Usage.from_wire(doc["usage"])
            choices = doc.get("choices") or []
            if not choices:
                return ""
            choice = choices[0]
            delta = choice.get("delta") or {}
            for call in delta.get("tool_calls") or ():
                self._call(call)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
            text = delta.get("content") or ""
            if not isinstance(text, str):
                raise TypeError(f"content is a {type(text).__name__}")
        except ProviderError:
            raise
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise provider._error(
                f"malformed stream event {event[:80]!r} after {self.chunks - 1} events ({exc})"
            ) from None
        if text:
            self.text.append(text)
        return text

    def _call(self, delta: Mapping[str, Any]) -> None:
        index = int(delta.get("index", len(self.calls)))
        call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": []})
        if delta.get("id"):
            call["id"] = str(delta["id"])
        function = delta.get("function") or {}
        if function.get("name"):
            call["name"] += str(function["name"])
        if function.get("arguments"):
            call["arguments"].append(str(function["arguments"]))

    def reply(self) -> ModelReply:
        calls = [
            ToolCall(
                id=call["id"] or f"call_{index}",
                name=call["name"],
                arguments="".join(call["arguments"]) or "{}",
            )
            for index, call in sorted(self.calls.items())
        ]
        return ModelReply(
            text="".join(self.text),
            tool_calls=calls,
            usage=self.usage,
            finish_reason=self.finish_reason,
        )


async def _sse_events(next_line: Any) -> AsyncIterator[str]:
    """The ``data`` payloads of a server-sent-event stream, one per event."""
    data: list[str] = []
    while True:
        try:
            line = await next_line()
        except StopAsyncIteration:
            break
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _arguments(value: Any) -> str:
    if value is None:
        return "{}"
    return value if isinstance(value, str) else json.dumps(value)


def _describe(exc: HttpError, config: ProviderConfig) -> str:
    if isinstance(exc, TimedOut):
        return f"timed out after {config.timeout:g} s ({exc.phase})"
    if isinstance(exc, ConnectFailed):
        return f"cannot reach {config.base_url} ({exc})"
    return str(exc)


def _plain_http(base_url: str) -> bool:
    """Whether requests to ``base_url`` never use TLS (plain HTTP, no proxy from the env)."""
    if not base_url.lower().startswith("http://"):
        return False
    proxies = ("http_proxy", "https_proxy", "all_proxy")
    return not any(key.lower() in proxies and value for key, value in os.environ.items())


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import email.utils  # an HTTP date is rare: seconds are the usual Retry-After

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(response: Answer) -> str:
    try:
        data = response.json()
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except ValueError:
        pass
    return response.text[:200].strip() or response.reason
