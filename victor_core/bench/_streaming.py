"""The ``streaming`` benchmark group: perceived latency of streams, and connection reuse.

Against the scripted chat-completions server (:class:`ScriptedServer` of
``victor_core.testing``, on 127.0.0.1), through the provider the installed
plugins offer for ``openai-compatible`` (found by entry point, as a run finds
it), whose answers are 24 words produced 4 ms apart, as a model would:

* **first chunk vs full response**: the time to the first streamed chunk
  against the time to the whole answer, streamed and not (the target: the
  first chunk within 10% of the full time);
* **cached replay**: the first chunk of an answer replayed from the response
  cache by ``stream_chat``;
* **connection reuse**: requests through one provider (its pooled,
  kept-alive connections) against a new provider, hence a new connection,
  per request; the server counts the connections opened.

``iterations`` is the number of streams (and of requests of each kind in the
reuse comparison).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from victor_core.exceptions import BenchmarkError, ProviderError
from victor_core.plugins._manager import PluginManager
from victor_core.providers._scripted import ScriptedServer
from victor_core.settings import Settings

DEFAULT_ITERATIONS = 20

_WORDS = 24
_CHUNK_DELAY_S = 0.004
_MAX_ITERATIONS = 200
_MESSAGES = [{"role": "user", "content": "tell me about streaming"}]


def _settings(base_url: str, directory: Path) -> Settings:
    return Settings(
        cache_dir=directory / "cache",
        data_dir=directory / "data",
        provider="openai-compatible",
        provider_base_url=base_url,
        model="bench",
        local_provider_max_retries=0,
        local_provider_timeout=30.0,
    )


async def _provider(plugin_manager: PluginManager, settings: Settings) -> Any:
    """A new provider for ``settings`` from the installed plugins (a factory builds a new one)."""
    from victor_core.providers._registry import find_provider

    try:
        return await find_provider(plugin_manager, settings)
    except ProviderError as exc:
        raise BenchmarkError(
            f"the streaming group needs a provider of 'openai-compatible' servers "
            f"(pip install plugins/victor-openai-provider): {exc}",
            group="streaming",
        ) from None


async def _stream_once(provider: Any) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = 0.0
    chunks = 0
    async for _ in provider.stream(_MESSAGES):
        if not chunks:
            first = time.perf_counter() - start
        chunks += 1
    return first * 1000.0, (time.perf_counter() - start) * 1000.0, chunks


async def _measure(n: int, progress: Callable[[str], None], directory: Path) -> dict[str, Any]:
    answer = " ".join(f"word{i}" for i in range(_WORDS))
    with ScriptedServer(lambda messages, tools: answer, chunk_delay=_CHUNK_DELAY_S) as server:
        settings = _settings(server.base_url, directory)
        plugin_manager = PluginManager(settings)
        provider = await _provider(plugin_manager, settings)
        try:
            progress(f"streaming: {n} streams, {_WORDS} chunks each")
            firsts, fulls, wholes = await _answers(provider, n, progress)
            # Connection reuse is measured on instant answers, where it shows.
            server.chunk_delay = 0.0
            progress(f"streaming: {n} requests on pooled connections vs new connections")
            opened = server.connections
            reused_ms = await _requests_ms(provider, n)
            reused_connections = server.connections - opened
        finally:
            await provider.aclose()
        opened = server.connections
        fresh_ms = await _fresh_requests_ms(plugin_manager, settings, n)
        fresh_connections = server.connections - opened
        replay_first = await _cached_replay(settings, plugin_manager, n, progress)
    first = statistics.median(firsts)
    full = statistics.median(fulls)
    whole = statistics.median(wholes)
    return {
        "latency_ms": first,
        "throughput": 1000.0 / full if full else None,
        "hit_rate": None,
        "ratios": {
            "first_chunk_over_full_stream": first / full if full else None,
            "first_chunk_over_whole_answer": first / whole if whole else None,
            "perceived_latency_reduction": 1.0 - first / whole if whole else None,
            "new_connection_over_reused": fresh_ms / reused_ms if reused_ms else None,
        },
        "details": {
            "streams": n,
            "chunks_per_answer": _WORDS,
            "chunk_delay_ms": _CHUNK_DELAY_S * 1000.0,
            "first_chunk_ms": first,
            "first_chunk_p95_ms": sorted(firsts)[max(0, int(n * 0.95) - 1)],
            "full_stream_ms": full,
            "whole_answer_ms": whole,
            "cached_replay_first_chunk_ms": replay_first,
            "reused_request_ms": reused_ms,
            "new_connection_request_ms": fresh_ms,
            "connections_opened_reused": reused_connections,
            "connections_opened_new": fresh_connections,
        },
    }


async def _answers(
    provider: Any, n: int, progress: Callable[[str], None]
) -> tuple[list[float], list[float], list[float]]:
    """First-chunk and full-stream times of ``n`` streams, then ``n`` whole answers (ms)."""
    firsts: list[float] = []
    fulls: list[float] = []
    for _ in range(n):
        first, full, _chunks = await _stream_once(provider)
        firsts.append(first)
        fulls.append(full)
    progress(f"streaming: {n} whole (non-streamed) answers")
    wholes: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        await provider.complete(_MESSAGES)
        wholes.append((time.perf_counter() - start) * 1000.0)
    return firsts, fulls, wholes


async def _requests_ms(provider: Any, n: int) -> float:
    """Mean time (ms) of ``n`` answers on the provider's pooled connections."""
    start = time.perf_counter()
    for _ in range(n):
        await provider.complete(_MESSAGES)
    return (time.perf_counter() - start) * 1000.0 / n


async def _fresh_requests_ms(plugin_manager: Any, settings: Any, n: int) -> float:
    """Mean time (ms) of ``n`` answers, each from a new provider (a new connection)."""
    start = time.perf_counter()
    for _ in range(n):
        fresh = await _provider(plugin_manager, settings)
        try:
            await fresh.complete(_MESSAGES)
        finally:
            await fresh.aclose()
    return (time.perf_counter() - start) * 1000.0 / n


async def _cached_replay(
    settings: Settings, plugin_manager: PluginManager, n: int, progress: Callable[[str], None]
) -> float:
    """Median first-chunk time of ``stream_chat`` answering from the response cache."""
    from victor_core.orchestrator import AgentOrchestrator

    progress(f"streaming: {n} answers replayed from the response cache")
    firsts: list[float] = []
    async with AgentOrchestrator(settings, plugin_manager=plugin_manager) as orch:
        await orch.chat("tell me about streaming")  # fills the cache
        for _ in range(n):
            start = time.perf_counter()
            stream: Any = orch.stream_chat("tell me about streaming")
            async for _chunk in stream:
                firsts.append((time.perf_counter() - start) * 1000.0)
                break
            await stream.aclose()
    return statistics.median(firsts)


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Measure the group (see the module documentation); ``iterations`` = streams."""
    n = max(3, min(int(iterations), _MAX_ITERATIONS))
    with tempfile.TemporaryDirectory(prefix="victor-bench-stream-") as tmp:
        return asyncio.run(_measure(n, progress, Path(tmp)))
