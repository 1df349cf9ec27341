"""Tests of the OpenAI-compatible provider against victor_core.testing's ScriptedServer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from victor_core.exceptions import ProviderError
from victor_core.providers import ModelReply, Provider, ProviderConfig
from victor_core.settings import Settings
from victor_core.testing import ScriptedFault, ScriptedServer, tool_call

from victor_openai_provider import OpenAICompatibleProvider, OpenAIProviderFactory
from victor_openai_provider._client import _retry_after
from victor_openai_provider.plugin import victor_providers

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    }
]


def echo(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
    """A script answering ``echo: <last user message>``."""
    last = next(m for m in reversed(messages) if m.get("role") == "user")
    return f"echo: {last['content']}"


def _echo_then(*faults: Any) -> Any:
    """A script that answers with ``faults`` first, then echoes."""
    pending = list(faults)

    def script(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        return pending.pop(0) if pending else echo(messages, tools)

    return script


#: The httpx transport the provider is given (None: it picks its own client).
_TRANSPORT: list[Any] = [None]


@pytest.fixture(autouse=True, params=["plain-http-client", "httpx-client"])
def http_client(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs on both HTTP clients: the plain one (``http://``) and httpx."""
    if request.param == "httpx-client":
        import httpx

        _TRANSPORT[0] = httpx.AsyncHTTPTransport()
    try:
        yield str(request.param)
    finally:
        _TRANSPORT[0] = None


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(echo) as srv:
        yield srv


def _provider(server: ScriptedServer, **config: Any) -> OpenAICompatibleProvider:
    values: dict[str, Any] = {
        "name": "openai-compatible",
        "base_url": server.base_url,
        "model": "fake",
        "timeout": 5.0,
        "max_retries": 2,
        **config,
    }
    return OpenAICompatibleProvider(
        ProviderConfig(**values), transport=_TRANSPORT[0], backoff_base=0.001
    )


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


async def _reply(provider: OpenAICompatibleProvider, *, stream: bool, **params: Any) -> Any:
    items: list[Any] = []
    try:
        if stream:
            items = [i async for i in provider.stream_reply(MESSAGES, tools=TOOLS, **params)]
        else:
            items = [await provider.reply(MESSAGES, tools=TOOLS, **params)]
    finally:
        await provider.aclose()
    return items


def test_complete(server: ScriptedServer) -> None:
    provider = _provider(server)
    assert isinstance(provider, Provider)
    assert _run(_complete(provider, temperature=0)) == "echo: hello world"
    body = server.bodies[0]
    assert body["model"] == "fake"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0
    assert body["stream"] is False
    assert "tools" not in body


def test_stream(server: ScriptedServer) -> None:
    chunks = _run(_collect(_provider(server)))
    assert chunks == ["echo:", " hello", " world"]
    assert server.bodies[0]["stream"] is True
    assert server.bodies[0]["stream_options"] == {"include_usage": True}


# -- the tool-calling wire format ----------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_tool_calls_are_read(stream: bool) -> None:
    long_path = "src/" + "deep/" * 20 + "file.py"
    calls = [
        tool_call("read_file", {"path": "a.py"}, id="call_a"),
        tool_call("read_file", {"path": long_path}, id="call_b"),
    ]
    with ScriptedServer([{"text": "Reading.", "tool_calls": calls}], argument_piece=5) as srv:
        items = _run(_reply(_provider(srv), stream=stream))
    reply = items[-1]
    assert isinstance(reply, ModelReply)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("call_a", "read_file", {"path": "a.py"}),
        ("call_b", "read_file", {"path": long_path}),
    ]
    assert reply.text == "Reading."
    assert reply.finish_reason == "tool_calls"
    assert reply.usage.prompt_tokens
    assert reply.usage.completion_tokens
    assert srv.bodies[0]["tools"] == TOOLS
    if stream:
        assert "".join(i for i in items if isinstance(i, str)) == "Reading."


def test_tool_messages_reach_the_server_as_sent() -> None:
    call = tool_call("read_file", {"path": "a.py"}, id="call_1")
    conversation = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [call.to_message()]},
        {"role": "tool", "tool_call_id": "call_1", "content": "print('hi')"},
    ]

    async def go(provider: OpenAICompatibleProvider) -> ModelReply:
        try:
            return await provider.reply(conversation, tools=TOOLS)
        finally:
            await provider.aclose()

    with ScriptedServer(["It prints hi."]) as srv:
        reply = _run(go(_provider(srv)))
    assert reply.text == "It prints hi."
    sent = srv.bodies[0]["messages"]
    assert sent[2]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "read_file", "arguments": '{"path": "a.py"}'},
        }
    ]
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": "print('hi')"}


def test_stream_cut_mid_tool_call_raises() -> None:
    fault = ScriptedFault(cut_after=3, then=[tool_call("read_file", {"path": "abcdefghij.py"})])
    with (
        ScriptedServer([fault], argument_piece=4) as srv,
        pytest.raises(ProviderError, match="stream broken after 0 chunks and 1 attempts"),
    ):
        _run(_reply(_provider(srv, max_retries=0), stream=True))


def test_malformed_stream_event_raises() -> None:
    with (
        ScriptedServer([ScriptedFault(malformed=True, then="some text")]) as srv,
        pytest.raises(ProviderError, match="malformed stream event"),
    ):
        _run(_reply(_provider(srv, max_retries=0), stream=True))


def test_truncated_plain_answer_raises() -> None:
    with (
        ScriptedServer([ScriptedFault(cut_after=0, then="a whole answer")]) as srv,
        pytest.raises(ProviderError, match="openai-compatible"),
    ):
        _run(_reply(_provider(srv, max_retries=0), stream=False))


# -- retries, timeouts, errors -------------------------------------------------------------


def test_retries_429_honouring_retry_after() -> None:
    faults = (ScriptedFault(status=429, retry_after="0"), ScriptedFault(status=503))
    with ScriptedServer(_echo_then(*faults)) as srv:
        provider = _provider(srv)
        assert _run(_complete(provider)) == "echo: hello world"
        assert len(srv.bodies) == 3
    assert provider.stats["retries"] == 2


def test_stream_retries_before_first_chunk() -> None:
    with ScriptedServer(_echo_then(ScriptedFault(status=500))) as srv:
        assert "".join(_run(_collect(_provider(srv)))) == "echo: hello world"
        assert len(srv.bodies) == 2


def test_gives_up_after_max_retries() -> None:
    with ScriptedServer(lambda m, t: ScriptedFault(status=500)) as srv:
        provider = _provider(srv, max_retries=2)
        with pytest.raises(ProviderError, match="after 3 attempts: HTTP 500") as info:
            _run(_complete(provider))
        assert len(srv.bodies) == 3
    assert info.value.status == 500
    assert info.value.provider == "openai-compatible"


def test_rate_limited_for_good() -> None:
    with (
        ScriptedServer(lambda m, t: ScriptedFault(status=429, retry_after="0")) as srv,
        pytest.raises(ProviderError, match="HTTP 429"),
    ):
        _run(_complete(_provider(srv, max_retries=1)))


def test_client_errors_are_not_retried() -> None:
    with ScriptedServer(_echo_then(ScriptedFault(status=400))) as srv:
        with pytest.raises(
            ProviderError, match="request refused: HTTP 400: scripted status 400"
        ) as info:
            _run(_complete(_provider(srv)))
        assert len(srv.bodies) == 1
    assert info.value.status == 400


@pytest.mark.parametrize("value", [float("nan"), object()], ids=["nan", "object"])
def test_a_request_that_is_not_json_is_refused_before_sending(
    server: ScriptedServer, value: Any
) -> None:
    with pytest.raises(ProviderError, match="cannot send the request as JSON"):
        _run(_complete(_provider(server), temperature=value))
    assert server.bodies == []


def test_slow_server_times_out() -> None:
    with ScriptedServer(echo, delay=1.0) as srv:
        provider = _provider(srv, timeout=0.1, max_retries=0)
        with pytest.raises(ProviderError, match=r"timed out after 0\.1 s"):
            _run(_complete(provider))


def test_broken_stream_raises_after_partial_output() -> None:
    received: list[str] = []

    async def consume(provider: OpenAICompatibleProvider) -> None:
        try:
            async for chunk in provider.stream(MESSAGES):
                received.append(chunk)
        finally:
            await provider.aclose()

    # Events: the role, "echo:", " hello", then the cut.
    with (
        ScriptedServer(_echo_then(ScriptedFault(cut_after=3, then="echo: hello world"))) as srv,
        pytest.raises(ProviderError, match="stream broken after 2 chunks"),
    ):
        _run(consume(_provider(srv)))
    assert received == ["echo:", " hello"]


def test_unreachable_server() -> None:
    config = ProviderConfig(
        name="ollama", base_url="http://127.0.0.1:9/v1", model="m", timeout=1, max_retries=1
    )
    provider = OpenAICompatibleProvider(config, transport=_TRANSPORT[0], backoff_base=0.001)
    with pytest.raises(ProviderError, match=r"cannot reach http://127\.0\.0\.1:9/v1"):
        _run(_complete(provider))


# -- connections ---------------------------------------------------------------------------


def test_connections_are_reused(server: ScriptedServer) -> None:
    async def many() -> list[str]:
        provider = _provider(server)
        try:
            return [await provider.complete(MESSAGES) for _ in range(5)]
        finally:
            await provider.aclose()

    assert len(_run(many())) == 5
    assert len(server.bodies) == 5
    assert server.connections == 1


def test_concurrent_requests_share_the_pool(server: ScriptedServer) -> None:
    async def burst() -> list[str]:
        provider = _provider(server, concurrent_requests=2, pool_size=2, pool_max_overflow=0)
        try:
            return await asyncio.gather(*(provider.complete(MESSAGES) for _ in range(6)))
        finally:
            await provider.aclose()

    assert _run(burst()) == ["echo: hello world"] * 6
    assert server.connections <= 2


def test_a_new_event_loop_gets_a_new_pool(server: ScriptedServer) -> None:
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


def test_factory_reads_settings(server: ScriptedServer) -> None:
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
    assert server.bodies[0]["model"] == "m1"


def test_openai_environment_variables_configure_the_provider(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    provider = victor_providers()[0].create(Settings(provider="openai"))
    assert provider.config.base_url == server.base_url
    assert provider.config.api_key == "sk-from-env"
    assert _run(_complete(provider)) == "echo: hello world"


def test_fake_chat_server_is_a_deprecated_alias() -> None:
    import victor_openai_provider.testing as old

    with pytest.warns(DeprecationWarning, match="ScriptedServer"):
        alias = old.FakeChatServer
    assert alias is ScriptedServer
