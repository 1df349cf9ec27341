"""The provider's HTTP client on httpx: TLS, proxies, and transports injected by tests.

httpx is imported with this module, which the provider imports only for a
server it cannot reach with :class:`~victor_openai_provider._transport.PlainHttpClient`
(``https://``, a proxy in the environment, or a ``transport`` given to it).
httpx's faults become :class:`~victor_openai_provider._http.HttpError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx

from victor_openai_provider._http import Answer, ConnectFailed, HttpError, TimedOut

__all__ = ["HttpxClient"]

_PHASES = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


def _fault(exc: httpx.HTTPError) -> HttpError:
    if isinstance(exc, httpx.TimeoutException):
        return TimedOut(_PHASES.get(type(exc), "request"))
    if isinstance(exc, httpx.ConnectError):
        return ConnectFailed(str(exc) or type(exc).__name__)
    return HttpError(f"{type(exc).__name__}: {exc}")


class _HttpxAnswer(Answer):
    def __init__(self, response: httpx.Response) -> None:
        headers: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        super().__init__(response.status_code, response.reason_phrase, headers)
        self._response = response

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise _fault(exc) from None

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxClient:
    """The provider's client on an ``httpx.AsyncClient`` (see the module documentation).

    Args:
        base_url: request paths are joined to it.
        headers: sent with every request.
        timeout: seconds each step of a request may take.
        max_connections: most connections open at once.
        max_keepalive: most idle connections kept for reuse.
        transport: an httpx transport; default: httpx's own (pooled, TLS, proxies).
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] = {},
        timeout: float | None = None,
        max_connections: int = 20,
        max_keepalive: int = 20,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=dict(headers),
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_keepalive
            ),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"<HttpxClient {self.base_url!r}>"

    async def send(self, path: str, body: bytes, *, stream: bool = False) -> Answer:
        """POST ``body`` (JSON) to ``path``: the answer, its body read unless ``stream``.

        Raises:
            HttpError: what httpx raised, as the provider's fault.
        """
        request = self._client.build_request(
            "POST",
            path.lstrip("/"),
            content=body,
            headers={"Content-Type": "application/json"},
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _fault(exc) from None
        answer = _HttpxAnswer(response)
        return answer if stream else await answer.whole()

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        await self._client.aclose()
