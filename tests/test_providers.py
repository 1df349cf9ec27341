"""Providers: configuration, lookup, and chat through the response cache with a local server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from victor_core._markers import hookimpl
from victor_core.exceptions import ProviderError
from victor_core.orchestrator import AgentOrchestrator
from victor_core.plugins import PluginManager
from victor_core.providers import Provider, ProviderConfig, find_provider, is_local_url
from victor_core.settings import Settings
from victor_core.testing import ScriptedFault, ScriptedServer

provider_plugin = pytest.importorskip("victor_openai_provider.plugin")


def echo(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
    """Answers ``echo: <last user message>``, or the fault queued in ``FAULTS``."""
    if FAULTS:
        return FAULTS.pop(0)
    last = next(m for m in reversed(messages) if m.get("role") == "user")
    return f"echo: {last['content']}"


#: Faults the next requests get, one per request (emptied by the fixture).
FAULTS: list[ScriptedFault] = []


class EchoProvider:
    """A provider object (not a factory) answering in upper case."""

    name = "shout"

    def __init__(self) -> None:
        self.closed = False

    async def complete(self, messages: Sequence[Any], **params: Any) -> str:
        return str(messages[-1]["content"]).upper()

    async def stream(self, messages: Sequence[Any], **params: Any) -> AsyncIterator[str]:
        for word in str(messages[-1]["content"]).upper().split():
            yield word

    async def aclose(self) -> None:
        self.closed = True


class ShoutPlugin:
    def __init__(self) -> None:
        self.provider = EchoProvider()

    @hookimpl
    def victor_providers(self) -> list[Any]:
        return [self.provider]


def test_config_for_hosted_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    hosted = ProviderConfig.from_settings(
        Settings(provider="openai", openai_timeout=12, openai_max_retries=5)
    )
    assert hosted.base_url == "https://api.openai.com/v1"
    assert hosted.api_key == "sk-test"
    assert hosted.local is False
    assert (hosted.timeout, hosted.max_retries, hosted.concurrent_requests) == (12.0, 5, 10)
    local = ProviderConfig.from_settings(
        Settings(provider="ollama", local_provider_timeout=99, local_provider_batch_size=2)
    )
    assert local.base_url == "http://localhost:11434/v1"
    assert local.model == "llama3.2"
    assert local.local is True
    assert (local.timeout, local.concurrent_requests) == (99.0, 2)
    custom = ProviderConfig.from_settings(
        Settings(
            provider="openai-compatible",
            provider_base_url="http://127.0.0.1:5000/v1/",
            model="m",
            connection_pool_size=3,
            connection_pool_max_overflow=4,
        )
    )
    assert custom.base_url == "http://127.0.0.1:5000/v1"
    assert custom.local is True
    assert (custom.pool_size, custom.pool_max_overflow) == (3, 4)
    with pytest.raises(ProviderError, match="no provider configured"):
        ProviderConfig.from_settings(Settings())
    with pytest.raises(ProviderError, match="needs provider_base_url"):
        ProviderConfig.from_settings(Settings(provider="my-server"))


def test_is_local_url() -> None:
    assert is_local_url("http://localhost:8000/v1")
    assert is_local_url("http://127.0.0.1:1/v1")
    assert is_local_url("http://box.localhost/v1")
    assert not is_local_url("https://api.example.org/v1")


def test_find_provider(settings: Settings) -> None:
    pm = PluginManager(settings, discover=False)
    shout = ShoutPlugin()
    pm.register(shout)
    pm.register(provider_plugin)

    async def lookup(name: str) -> Any:
        return await find_provider(pm, settings.evolve(provider=name))

    assert asyncio.run(lookup("shout")) is shout.provider
    ollama = asyncio.run(lookup("ollama"))
    assert isinstance(ollama, Provider)
    assert ollama.name == "ollama"
    with pytest.raises(
        ProviderError, match=r"unknown provider 'nope'; installed providers: .*shout"
    ):
        asyncio.run(lookup("nope"))
    with pytest.raises(ProviderError, match="no provider configured"):
        asyncio.run(lookup(""))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    FAULTS.clear()
    with ScriptedServer(echo) as srv:
        yield srv
    FAULTS.clear()


def _orchestrator(tmp_path: Path, server: ScriptedServer, **values: Any) -> AgentOrchestrator:
    settings = Settings(
        cache_dir=tmp_path / "cache",
        data_dir=tmp_path / "data",
        provider="openai-compatible",
        provider_base_url=server.base_url,
        model="fake",
        local_provider_max_retries=0,
        **values,
    )
    pm = PluginManager(settings, discover=False)
    pm.register(provider_plugin)
    return AgentOrchestrator(settings, plugin_manager=pm)


def test_chat_uses_the_provider_and_the_cache(tmp_path: Path, server: ScriptedServer) -> None:
    async def go() -> list[str]:
        async with _orchestrator(tmp_path, server) as orch:
            return [
                await orch.chat("hi there"),
                await orch.chat("hi there"),
                await orch.chat("hi there", use_cache=False),
                await orch.chat("hi there", temperature=0.5),
            ]

    answers = asyncio.run(go())
    assert answers == ["echo: hi there"] * 4
    # cached once; use_cache=False and other parameters go to the server
    assert len(server.bodies) == 3


def test_cached_answer_is_replayed_as_a_stream(tmp_path: Path, server: ScriptedServer) -> None:
    async def go() -> tuple[str, list[str]]:
        async with _orchestrator(tmp_path, server) as orch:
            whole = await orch.chat("stream me please")
            chunks = [c async for c in orch.stream_chat("stream me please")]
            return whole, chunks

    whole, chunks = asyncio.run(go())
    assert "".join(chunks) == whole
    assert len(chunks) > 1
    assert len(server.bodies) == 1


def test_stream_is_cached_once_complete(tmp_path: Path, server: ScriptedServer) -> None:
    async def go() -> tuple[list[str], str]:
        async with _orchestrator(tmp_path, server) as orch:
            chunks = [c async for c in orch.stream_chat("one two three")]
            return chunks, await orch.chat("one two three")

    chunks, whole = asyncio.run(go())
    assert chunks == ["echo:", " one", " two", " three"]
    assert whole == "echo: one two three"
    assert len(server.bodies) == 1


def test_broken_stream_is_not_cached(tmp_path: Path, server: ScriptedServer) -> None:
    # Events: the role, "echo:", then the cut.
    FAULTS.append(ScriptedFault(cut_after=2, then="echo: will it break"))
    received: list[str] = []

    async def broken() -> None:
        async with _orchestrator(tmp_path, server) as orch:
            async for chunk in orch.stream_chat("will it break"):
                received.append(chunk)

    with pytest.raises(ProviderError, match="stream broken after 1 chunks"):
        asyncio.run(broken())
    assert received == ["echo:"]

    async def again() -> str:
        async with _orchestrator(tmp_path, server) as orch:
            return await orch.chat("will it break")

    assert asyncio.run(again()) == "echo: will it break"
    assert len(server.bodies) == 2


def test_run_lets_the_provider_answer(tmp_path: Path, server: ScriptedServer) -> None:
    (tmp_path / "ws").mkdir()

    async def go() -> Any:
        async with _orchestrator(tmp_path, server) as orch:
            return await orch.run("say something", path=tmp_path / "ws")

    result = asyncio.run(go())
    assert result.mode == "model"
    assert result.response_source == "provider"
    assert result.answer == "echo: say something"
    assert result.ok and result.turns == 1


@pytest.mark.parametrize("fallback", [False, True])
def test_a_failing_provider_fails_the_run_unless_offline_fallback(
    tmp_path: Path, server: ScriptedServer, fallback: bool
) -> None:
    (tmp_path / "ws").mkdir()
    settings = Settings(
        cache_dir=tmp_path / "c",
        data_dir=tmp_path / "d",
        provider="openai-compatible",
        provider_base_url=server.base_url,
        local_provider_max_retries=0,
        provider_offline_fallback=fallback,
    )

    async def go() -> Any:
        pm = PluginManager(settings, discover=False)
        pm.register(provider_plugin)
        async with AgentOrchestrator(settings, plugin_manager=pm) as orch:
            return await orch.run("say something", path=tmp_path / "ws")

    FAULTS.append(ScriptedFault(status=500))
    result = asyncio.run(go())
    assert any("provider:" in e and "HTTP 500" in e for e in result.errors)
    assert result.ok is fallback
    assert result.status == ("completed" if fallback else "provider_error")
    assert result.mode == ("planner" if fallback else "model")


def test_provider_closes_with_the_orchestrator(tmp_path: Path, server: ScriptedServer) -> None:
    settings = Settings(cache_dir=tmp_path / "c", data_dir=tmp_path / "d", provider="shout")
    pm = PluginManager(settings, discover=False)
    shout = ShoutPlugin()
    pm.register(shout)

    async def go() -> str:
        async with AgentOrchestrator(settings, plugin_manager=pm) as orch:
            return await orch.chat("quiet please")

    assert asyncio.run(go()) == "QUIET PLEASE"
    assert shout.provider.closed is True


def test_scripted_whole_answer_takes_as_long_as_its_stream() -> None:
    """With ``chunk_delay``, a non-streamed answer is held for every chunk its stream would send."""
    import json
    import urllib.request

    with ScriptedServer(lambda messages, tools: "one two three four", chunk_delay=0.05) as srv:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        request = urllib.request.Request(
            srv.base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            doc = json.load(response)
        arrived, answered = srv.timings[0]
    assert doc["choices"][0]["message"]["content"] == "one two three four"
    # Four words and the closing chunk: at least five chunk delays.
    assert answered - arrived >= 5 * 0.05
