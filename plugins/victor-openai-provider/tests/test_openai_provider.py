"""Tests of the OpenAI-compatible provider against FakeChatServer on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from victor_core.exceptions import ProviderError
from victor_core.providers import Provider, ProviderConfig
from victor_core.settings import Settings

from victor_openai_provider import OpenAICompatibleProvider, OpenAIProviderFactory
from victor_openai_provider._client import _retry_after
from victor_openai_provider.plugin import victor_providers
from victor_openai_provider.testing import FakeChatServer

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as srv:
        yield srv


def _provider(server: FakeChatServer, **config: Any) -> OpenAICompatibleProvider:
    values: dict[str, Any] = {
        "name": "openai-compatible",
        "base_url": server.base_url,
        "model": "fake",
        "timeout": 5.0,
        "max_retries": 2,
        **config,
    }
    return OpenAICompatibleProvider(ProviderConfig(**values), backoff_base=0.001)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _collect(provider: OpenAICompatibleProvider, **params: Any) -> list[str]:
    try:
        return [chunk async for chunk in provider.stream(MESSAGES, **params)]
    finally:
        await provider.aclose()


async def _complete(provider: OpenAICompatibleProvider, **params: Any) -> str:
    try:
        return await provider.complete(MESSAGES, **params)
    finally:
        await provider.aclose()


def test_complete(server: FakeChatServer) -> None:
    provider = _provider(server)
    assert isinstance(provider, Provider)
    assert _run(_complete(provider, temperature=0)) == "echo: hello world"
    body = json.loads(server.bodies[0])
    assert body["model"] == "fake"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0
    assert body["stream"] is False


def test_stream(server: FakeChatServer) -> None:
    chunks = _run(_collect(_provider(server)))
    assert chunks == ["echo:", " hello", " world"]
    assert json.loads(server.bodies[0])["stream"] is True


def test_retries_429_honouring_retry_after(server: FakeChatServer) -> None:
    server.fail_next = [429, 503]
    provider = _provider(server)
    assert _run(_complete(provider)) == "echo: hello world"
    assert server.requests == 3
    assert provider.stats["retries"] == 2


def test_stream_retries_before_first_chunk(server: FakeChatServer) -> None:
    server.fail_next = [500]
    assert "".join(_run(_collect(_provider(server)))) == "echo: hello world"
    assert server.requests == 2


def test_gives_up_after_max_retries(server: FakeChatServer) -> None:
    provider = _provider(server, model="error500", max_retries=2)
    with pytest.raises(ProviderError, match="after 3 attempts: HTTP 500") as info:
        _run(_complete(provider))
    assert info.value.status == 500
    assert info.value.provider == "openai-compatible"
    assert server.requests == 3


def test_rate_limited_for_good(server: FakeChatServer) -> None:
    with pytest.raises(ProviderError, match="HTTP 429"):
        _run(_complete(_provider(server, model="ratelimit", max_retries=1)))


def test_client_errors_are_not_retried(server: FakeChatServer) -> None:
    server.fail_next = [400]
    with pytest.raises(ProviderError, match="request refused: HTTP 400: forced 400") as info:
        _run(_complete(_provider(server)))
    assert info.value.status == 400
    assert server.requests == 1


def test_slow_server_times_out(server: FakeChatServer) -> None:
    server.delay = 1.0
    provider = _provider(server, timeout=0.1, max_retries=0)
    with pytest.raises(ProviderError, match=r"timed out after 0\.1 s"):
        _run(_complete(provider))


def test_broken_stream_raises_after_partial_output(server: FakeChatServer) -> None:
    received: list[str] = []

    async def consume() -> None:
        provider = _provider(server, model="broken")
        try:
            async for chunk in provider.stream(MESSAGES):
                received.append(chunk)
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError, match="stream broken after 2 chunks"):
        _run(consume())
    assert received == ["echo:", " hello"]


def test_unreachable_server() -> None:
    config = ProviderConfig(
        name="ollama", base_url="http://127.0.0.1:9/v1", model="m", timeout=1, max_retries=1
    )
    provider = OpenAICompatibleProvider(config, backoff_base=0.001)
    with pytest.raises(ProviderError, match=r"cannot reach http://127\.0\.0\.1:9/v1"):
        _run(_complete(provider))


def test_connections_are_reused(server: FakeChatServer) -> None:
    async def many() -> list[str]:
        provider = _provider(server)
        try:
            return [await provider.complete(MESSAGES) for _ in range(5)]
        finally:
            await provider.aclose()

    assert len(_run(many())) == 5
    assert server.requests == 5
    assert server.connections == 1


def test_concurrent_requests_share_the_pool(server: FakeChatServer) -> None:
    async def burst() -> list[str]:
        provider = _provider(server, concurrent_requests=2, pool_size=2, pool_max_overflow=0)
        try:
            return await asyncio.gather(*(provider.complete(MESSAGES) for _ in range(6)))
        finally:
            await provider.aclose()

    assert _run(burst()) == ["echo: hello world"] * 6
    assert server.connections <= 2


def test_a_new_event_loop_gets_a_new_pool(server: FakeChatServer) -> None:
    provider = _provider(server)
    assert _run(_complete(provider)) == "echo: hello world"
    assert _run(_complete(provider)) == "echo: hello world"
    assert server.connections == 2


def test_retry_after_parsing() -> None:
    assert _retry_after("2") == 2.0
    assert _retry_after("-1") == 0.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert _retry_after("soon") is None
    assert _retry_after(None) is None


def test_factory_reads_settings(server: FakeChatServer) -> None:
    factories = victor_providers()
    assert len(factories) == 1
    factory = factories[0]
    assert isinstance(factory, OpenAIProviderFactory)
    assert {"openai", "ollama", "vllm", "lmstudio", "llamacpp", "openai-compatible"} <= set(
        factory.names
    )
    settings = Settings(
        provider="vllm",
        model="m1",
        provider_base_url=server.base_url,
        local_provider_timeout=7,
        local_provider_batch_size=3,
        connection_pool_size=4,
        connection_pool_max_overflow=1,
    )
    provider = factory.create(settings)
    assert provider.config.local is True
    assert provider.config.timeout == 7
    assert provider.config.concurrent_requests == 3
    assert provider.config.pool_size == 4
    assert _run(_complete(provider)) == "echo: hello world"
    assert json.loads(server.bodies[0])["model"] == "m1"
