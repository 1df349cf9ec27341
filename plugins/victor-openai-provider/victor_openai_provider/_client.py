"""The OpenAI-compatible provider: pooled httpx client, retries with backoff, SSE streaming."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from victor_core._log import get_logger
from victor_core.exceptions import ProviderError
from victor_core.providers import PROVIDER_DEFAULTS, Message, ProviderConfig

if TYPE_CHECKING:
    from victor_core.settings import Settings

__all__ = ["OpenAICompatibleProvider", "OpenAIProviderFactory"]

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIProviderFactory:
    """Builds :class:`OpenAICompatibleProvider` for every OpenAI-compatible provider name."""

    names: tuple[str, ...] = tuple(PROVIDER_DEFAULTS)

    def create(self, settings: Settings) -> OpenAICompatibleProvider:
        """A provider for ``settings.provider`` with the settings' pool, timeouts and retries."""
        return OpenAICompatibleProvider(ProviderConfig.from_settings(settings))


class OpenAICompatibleProvider:
    """A chat provider for servers speaking the OpenAI chat-completions protocol.

    Args:
        config: the provider's figures (URL, model, timeout, retries, pool).
        transport: an httpx transport (tests); default: a pooled network transport.
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
        max_backoff: float = 30.0,
    ) -> None:
        self.config = config
        self.name = config.name
        self._transport = transport
        self._backoff_base = backoff_base
        self._max_backoff = max_backoff
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"requests": 0, "attempts": 0, "retries": 0, "failures": 0}

    def __repr__(self) -> str:
        return (
            f"<OpenAICompatibleProvider name={self.name!r} model={self.config.model!r} "
            f"base_url={self.config.base_url!r}>"
        )

    # -- connection pool -----------------------------------------------------------------

    def _ensure_client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is not loop:
            # A pool belongs to the event loop that opened its connections; a
            # new loop (another asyncio.run) starts a new pool.
            self._client = None
        if self._client is None:
            cfg = self.config
            headers = {"Accept": "application/json"}
            if cfg.api_key:
                headers["Authorization"] = f"Bearer {cfg.api_key}"
            self._client = httpx.AsyncClient(
                base_url=cfg.base_url + "/",
                headers=headers,
                timeout=httpx.Timeout(cfg.timeout),
                limits=httpx.Limits(
                    max_connections=cfg.pool_size + cfg.pool_max_overflow,
                    max_keepalive_connections=cfg.pool_size,
                ),
                transport=self._transport,
            )
            self._semaphore = asyncio.Semaphore(cfg.concurrent_requests)
            self._loop = loop
        if self._semaphore is None:  # pragma: no cover - both are set together
            self._semaphore = asyncio.Semaphore(self.config.concurrent_requests)
        return self._client, self._semaphore

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- requests -------------------------------------------------------------------------

    def _body(self, messages: Sequence[Message], params: dict[str, Any], stream: bool) -> Any:
        body: dict[str, Any] = {"model": params.pop("model", None) or self.config.model}
        body["messages"] = [dict(m) for m in messages]
        body.update(params)
        body["stream"] = stream
        return body

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        delay = self._backoff_base * float(2**attempt)
        if response is not None:
            after = _retry_after(response.headers.get("Retry-After"))
            if after is not None:
                delay = after
        return min(max(delay, 0.0), self._max_backoff)

    def _error(self, message: str, status: int | None = None) -> ProviderError:
        self.stats["failures"] += 1
        return ProviderError(f"{self.name}: {message}", provider=self.name, status=status)

    async def complete(self, messages: Sequence[Message], **params: Any) -> str:
        """The whole answer to ``messages``.

        Raises:
            ProviderError: a non-retryable status, or every attempt failed.
        """
        client, semaphore = self._ensure_client()
        body = self._body(messages, dict(params), stream=False)
        self.stats["requests"] += 1
        async with semaphore:
            response = await self._send(client, body, stream=False)
            try:
                data = response.json()
                return str(data["choices"][0]["message"]["content"] or "")
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise self._error(
                    f"unexpected response from {self.config.base_url}: {exc!r}",
                    response.status_code,
                ) from None
            finally:
                await response.aclose()

    async def _send(self, client: httpx.AsyncClient, body: Any, *, stream: bool) -> httpx.Response:
        """Send ``body`` with retries; return a 2xx response (open, when ``stream``)."""
        attempts = self.config.max_retries + 1
        last = ""
        status: int | None = None
        for attempt in range(attempts):
            self.stats["attempts"] += 1
            response: httpx.Response | None = None
            try:
                request = client.build_request("POST", "chat/completions", json=body)
                response = await client.send(request, stream=True)
            except httpx.TimeoutException:
                last, status = f"timed out after {self.config.timeout:g} s", None
            except httpx.TransportError as exc:
                last, status = f"cannot reach {self.config.base_url} ({exc!r})", None
            else:
                if response.status_code < 300:
                    if not stream:
                        await response.aread()
                    return response
                await response.aread()
                status = response.status_code
                last = f"HTTP {status}: {_error_text(response)}"
                await response.aclose()
                if status not in _RETRY_STATUS:
                    raise self._error(f"request refused: {last}", status)
            if attempt + 1 < attempts:
                self.stats["retries"] += 1
                delay = self._delay(attempt, response)
                get_logger().warning(
                    "provider_retry",
                    provider=self.name,
                    attempt=attempt + 1,
                    delay_s=delay,
                    reason=last,
                )
                await asyncio.sleep(delay)
        raise self._error(f"request failed after {attempts} attempts: {last}", status)

    async def stream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[str]:
        """The answer to ``messages`` as text chunks (server-sent events).

        Retries happen only before the first chunk; a stream that breaks after
        it raises, so that a partial answer is never taken for a whole one.

        Raises:
            ProviderError: every attempt failed, or the stream broke before its end.
        """
        client, semaphore = self._ensure_client()
        body = self._body(messages, dict(params), stream=True)
        self.stats["requests"] += 1
        async with semaphore:
            response = await self._send(client, body, stream=True)
            chunks = 0
            finished = False
            try:
                async for event in _sse_events(response):
                    if event == "[DONE]":
                        finished = True
                        break
                    try:
                        choice = json.loads(event)["choices"][0]
                    except (ValueError, KeyError, IndexError, TypeError):
                        continue  # comments, keep-alives and extensions
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        chunks += 1
                        yield text
                    if choice.get("finish_reason"):
                        finished = True
            except httpx.TimeoutException:
                raise self._error(
                    f"stream timed out after {self.config.timeout:g} s ({chunks} chunks received)"
                ) from None
            except httpx.TransportError as exc:
                raise self._error(f"stream broken after {chunks} chunks ({exc!r})") from None
            finally:
                await response.aclose()
            if not finished:
                raise self._error(f"stream ended before completion after {chunks} chunks")


async def _sse_events(response: httpx.Response) -> AsyncIterator[str]:
    """The ``data`` payloads of a server-sent-event stream, one per event."""
    data: list[str] = []
    async for line in response.aiter_lines():
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
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except ValueError:
        pass
    return response.text[:200].strip() or response.reason_phrase
