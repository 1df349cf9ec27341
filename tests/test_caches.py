"""CacheManager and the key helpers of the three caches."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from victor_core.cache import TieredCache
from victor_core.cache._manager import (
    CACHE_TYPES,
    CacheManager,
    decode_vector,
    embedding_key,
    encode_vector,
    response_key,
    tool_selection_key,
)
from victor_core.exceptions import CacheError
from victor_core.settings import Settings


@pytest.fixture
def cache_settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")


@pytest.fixture
def manager(cache_settings: Settings) -> Any:
    mgr = CacheManager(cache_settings)
    yield mgr
    mgr.close()


# -- keys ------------------------------------------------------------------------------


def test_tool_selection_keys() -> None:
    assert tool_selection_key("  Read   the FILE ") == "query:read the file"
    with_context = tool_selection_key("read", namespace="context", context={"stage": "plan"})
    assert with_context.startswith("context:read#")
    assert with_context == tool_selection_key(
        "READ", namespace="context", context={"stage": "plan"}
    )
    assert with_context != tool_selection_key("read", namespace="context", context={"stage": "x"})
    assert tool_selection_key("read", namespace="rl") == "rl:read"
    with pytest.raises(CacheError, match="'query', 'context', 'rl'"):
        tool_selection_key("read", namespace="nope")
    with pytest.raises(CacheError, match="string"):
        tool_selection_key(3)  # type: ignore[arg-type]


def test_response_key_is_canonical_and_readable() -> None:
    messages = [{"role": "user", "content": "Explain   authentication tokens"}]
    key = response_key("openai", "gpt-4o", messages, {"temperature": 0.2, "top_p": 1})
    assert key.startswith("openai/gpt-4o:Explain authentication tokens#")
    assert key == response_key("openai", "gpt-4o", messages, {"top_p": 1, "temperature": 0.2})
    assert key != response_key("openai", "gpt-4o", messages, {"temperature": 0.3, "top_p": 1})
    assert key != response_key("openai", "gpt-4o-mini", messages, {"temperature": 0.2, "top_p": 1})
    long = response_key("p", "m", [{"role": "user", "content": "x" * 500}], None)
    assert len(long) < 140
    with pytest.raises(CacheError, match="cache key"):
        response_key("p", "m", [{"content": object()}], None)


def test_embedding_key_and_vectors() -> None:
    key = embedding_key("hash-256", "some text")
    assert key.startswith("hash-256:some text#")
    assert key != embedding_key("hash-256", "some text.")
    assert key != embedding_key("other", "some text")
    vector = [0.5, -1.25, 3.0, 0.0]
    data = encode_vector(vector)
    assert isinstance(data, bytes)
    assert len(data) == 16
    assert decode_vector(data) == vector
    assert decode_vector(encode_vector([0.1]))[0] == pytest.approx(0.1, rel=1e-6)
    with pytest.raises(CacheError, match="multiple of 4"):
        decode_vector(b"abc")
    with pytest.raises(CacheError, match="multiple of 4"):
        decode_vector("text")  # type: ignore[arg-type]
    with pytest.raises(CacheError, match="numbers"):
        encode_vector(["a"])


# -- the manager ------------------------------------------------------------------------


def test_caches_open_lazily_in_their_directories(
    manager: CacheManager, cache_settings: Settings
) -> None:
    assert not cache_settings.cache_dir.exists()
    cache = manager.get("response")
    assert isinstance(cache, TieredCache)
    assert manager.get("response") is cache
    assert cache.max_size == cache_settings.response_cache_size
    cache.set("k", "v")
    assert (cache_settings.cache_dir / "response" / "cache.db").exists()
    assert not (cache_settings.cache_dir / "embedding").exists()


def test_settings_size_and_ttl(tmp_path: Path, clock: Any) -> None:
    settings = Settings(cache_dir=tmp_path, tool_selection_cache_size=2, tool_selection_cache_ttl=5)
    mgr = CacheManager(settings, clock=clock)
    cache = mgr.get("tool_selection")
    assert cache is not None
    for i in range(3):
        cache.set(tool_selection_key(f"q{i}"), [f"tool{i}"])
    assert mgr.stats("tool_selection")["evictions"] == 1
    clock.now += 6
    assert mgr.clear_expired() == 2
    mgr.close()


def test_unknown_cache_type(manager: CacheManager) -> None:
    for call in (
        lambda: manager.get("sessions"),
        lambda: manager.stats("sessions"),
        lambda: manager.invalidate("sessions", "*"),
        lambda: manager.clear("sessions"),
    ):
        with pytest.raises(CacheError, match="'tool_selection', 'response', 'embedding'"):
            call()


def test_disabled_cache(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, response_cache_enabled=False)
    mgr = CacheManager(settings)
    assert mgr.get("response") is None
    assert mgr.stats("response")["enabled"] is False
    assert mgr.invalidate("response", "*") == 0
    assert mgr.stats()["by_type"]["response"]["current_size"] == 0
    settings.response_cache_enabled = True  # settings are read live
    assert mgr.get("response") is not None
    mgr.close()


def test_namespaces_follow_their_settings(manager: CacheManager) -> None:
    cache = manager.get("tool_selection")
    assert cache is not None
    manager.settings.tool_selection_cache_context = False
    context_key = tool_selection_key("q", namespace="context", context=[1])
    cache.set(context_key, ["a"])
    assert cache.get(context_key) is None
    cache.set(tool_selection_key("q"), ["b"])
    assert cache.get(tool_selection_key("q")) == ["b"]
    assert manager.namespace_enabled("context") is False
    assert manager.namespace_enabled("query") is True
    assert manager.namespace_enabled("unknown") is False
    manager.settings.tool_selection_cache_context = True
    cache.set(context_key, ["a"])
    assert cache.get(context_key) == ["a"]


def test_combined_stats(manager: CacheManager) -> None:
    tools = manager.get("tool_selection")
    responses = manager.get("response")
    assert tools is not None
    assert responses is not None
    tools.set(tool_selection_key("find files"), ["glob"])
    tools.get(tool_selection_key("FIND FILES"))
    responses.get("missing")
    stats = manager.stats()
    assert set(stats["by_type"]) == set(CACHE_TYPES)
    assert stats["hits"] == 1
    assert stats["misses"] == 1
    assert stats["hit_rate"] == pytest.approx(0.5)
    assert stats["miss_rate"] == pytest.approx(0.5)
    assert stats["current_size"] == 1
    settings = manager.settings
    assert stats["max_size"] == (
        settings.tool_selection_cache_size
        + settings.response_cache_size
        + settings.embedding_cache_size
    )
    one = manager.stats("tool_selection")
    assert one["enabled"] is True
    assert one["hits"] == 1
    assert "l1" in one
    assert "l2" in one


def test_invalidate_clear_and_shrink(manager: CacheManager) -> None:
    tools = manager.get("tool_selection")
    assert tools is not None
    for query in ("user authentication", "Authentication flow", "read files"):
        tools.set(tool_selection_key(query), ["x"])
    assert manager.invalidate("tool_selection", "*authentication*") == 2
    with pytest.raises(CacheError, match="glob"):
        manager.invalidate("tool_selection", 3)  # type: ignore[arg-type]
    embeddings = manager.get("embedding")
    assert embeddings is not None
    for i in range(4):
        embeddings.set(embedding_key("m", f"t{i}"), encode_vector([float(i)]))
    assert manager.shrink(0.5) == 3  # ceil(1 * 0.5) + ceil(4 * 0.5)
    assert decode_vector(embeddings.get(embedding_key("m", "t0"))) == [0.0]
    with pytest.raises(CacheError, match="between 0 and 1"):
        manager.shrink(-0.1)
    assert manager.clear("embedding") == 4
    assert manager.clear() == 1


def test_metrics_count_hits_and_misses(cache_settings: Settings) -> None:
    counters: dict[str, Any] = {}

    class Counter:
        def __init__(self) -> None:
            self.value = 0

        def increment(self) -> None:
            self.value += 1

    class Registry:
        def create_counter(self, name: str, description: str) -> Counter:
            counter: Counter = counters.setdefault(name, Counter())
            return counter

    mgr = CacheManager(cache_settings, metrics=Registry())
    cache = mgr.get("response")
    assert cache is not None
    cache.set("a", 1)
    cache.get("a")
    cache.get("b")
    cache.get("c")
    assert counters["victor_cache_response_hits_total"].value == 1
    assert counters["victor_cache_response_misses_total"].value == 2
    mgr.close()


def test_real_metrics_registry(cache_settings: Settings) -> None:
    metrics = pytest.importorskip("victor_core.metrics")
    registry = metrics.MetricsRegistry()
    mgr = CacheManager(cache_settings, metrics=registry)
    cache = mgr.get("embedding")
    assert cache is not None
    cache.get("nothing")
    assert registry.get("victor_cache_embedding_misses_total").value == 1
    mgr.close()


def test_auto_invalidation_sweeps_in_the_background(tmp_path: Path, clock: Any) -> None:
    settings = Settings(
        cache_dir=tmp_path, cache_auto_invalidate=True, cache_auto_invalidate_interval=1
    )
    mgr = CacheManager(settings, clock=clock)
    cache = mgr.get("response")
    assert cache is not None
    cache.set("old", "v", ttl=1)
    clock.now += 10
    sweepers = [t for t in threading.enumerate() if t.name == "victor-cache-sweeper"]
    assert len(sweepers) == 1
    deadline = time.monotonic() + 10
    while cache.stats()["expired"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.stats()["expired"] == 1
    assert cache.stats()["current_size"] == 0
    mgr.close()
    sweepers[0].join(timeout=5)
    assert not sweepers[0].is_alive()


def test_no_sweeper_unless_asked(manager: CacheManager) -> None:
    manager.get("response")
    assert not [t for t in threading.enumerate() if t.name == "victor-cache-sweeper"]


def test_close_is_idempotent_and_reopens(manager: CacheManager) -> None:
    cache = manager.get("response")
    assert cache is not None
    cache.set("k", "v")
    manager.close()
    manager.close()
    again = manager.get("response")
    assert again is not None
    assert again is not cache
    assert again.get("k") == "v"


def test_unwritable_cache_dir_never_fails_the_agent(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    blocker = tmp_path / "file"
    blocker.write_text("x")
    mgr = CacheManager(Settings(cache_dir=blocker))
    with capture_logs() as logs:
        for cache_type in CACHE_TYPES:
            cache = mgr.get(cache_type)
            assert cache is not None
            cache.set("k", "v")
            assert cache.get("k") == "v"
        stats = mgr.stats()
    assert stats["current_size"] == 3
    warnings = [e for e in logs if e["event"] == "cache_disk_unavailable"]
    assert sorted(e["cache"] for e in warnings) == sorted(CACHE_TYPES)
    mgr.close()
