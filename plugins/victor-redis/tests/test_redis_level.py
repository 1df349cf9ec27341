"""victor-redis against a real redis-server: sharing, invalidation, faults, safety."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs
from victor_redis import plugin as redis_plugin
from victor_redis.level import PREFIX, RedisLevels
from victor_redis.server import RedisServer

from victor_core import Settings
from victor_core.cache import CacheManager, TieredCache
from victor_core.exceptions import CacheError


def _cache(levels: RedisLevels, name: str = "response", **kwargs: Any) -> TieredCache:
    kwargs.setdefault("ttl", 60)
    kwargs.setdefault("max_size", 100)
    return TieredCache(name, level=levels(name), **kwargs)


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _eventually(check: Any, seconds: float = 5.0) -> bool:
    # A generous bound for a busy CI machine; `victor bench distributed`
    # measures the real latency (milliseconds).
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return bool(check())


# -- the hook and the manager ------------------------------------------------------------


def test_the_hook_answers_redis_only(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    factory = redis_plugin.victor_cache_backend(name="redis", settings=settings)
    assert isinstance(factory, RedisLevels)
    assert factory.url == "redis://127.0.0.1:1/0"
    assert redis_plugin.victor_cache_backend(name="memcached", settings=settings) is None


def test_redis_is_imported_only_when_the_backend_is_used(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from victor_core import AgentOrchestrator, Settings
        orch = AgentOrchestrator(Settings(cache_dir={str(tmp_path)!r}))
        orch.caches.get("response").set("k", "v")
        orch.caches.close()
        print("redis" in sys.modules, "victor_redis" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_orchestrators_caches_use_redis_through_the_entry_point(
    tmp_path: Path, redis_url: str
) -> None:
    from victor_core import AgentOrchestrator

    settings = Settings(cache_dir=tmp_path, cache_backend="redis", redis_url=redis_url)
    orchestrator = AgentOrchestrator(settings)
    try:
        cache = orchestrator.caches.get("tool_selection")
        assert cache is not None
        cache.set("query:find files", ["grep"])
        assert _client(redis_url).exists(f"{PREFIX}:tool_selection:e:query:find files") == 1
        assert orchestrator.caches.stats("tool_selection")["l2"]["backend"] == "redis"
    finally:
        orchestrator.caches.close()
    assert not (tmp_path / "tool_selection").exists()  # no disk level


def test_an_unknown_backend_names_the_known_ones(tmp_path: Path) -> None:
    manager = CacheManager(Settings(cache_dir=tmp_path, cache_backend="memcached"))
    with pytest.raises(CacheError, match=r"'memcached'.*'disk'.*'redis'"):
        manager.get("response")


# -- values, sizes, expiry, statistics ----------------------------------------------------


@pytest.mark.parametrize("value", [{"a": [1, 2.5, None]}, "text", 7, b"\x00\xff"])
def test_values_are_shared_in_the_safe_format(levels: RedisLevels, value: Any) -> None:
    writer = _cache(levels)
    writer.set("k", value)
    reader = _cache(RedisLevels(levels.url))
    try:
        assert reader.get("k") == value
        assert reader.stats()["l2"]["hits"] == 1
    finally:
        reader.close()
        writer.close()
    stored = _client(levels.url).hget(f"{PREFIX}:response:e:k", "v")
    assert stored is not None
    assert stored[:1] in (b"\x01", b"\x02")


def test_a_planted_pickle_is_never_unpickled(levels: RedisLevels, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> Any:
            return (os.system, (f"touch {marker}",))

    _client(levels.url).hset(f"{PREFIX}:response:e:k", mapping={"v": pickle.dumps(Exploit())})
    cache = _cache(levels)
    with capture_logs() as logs:
        assert cache.get("k") is None
    cache.close()
    assert not marker.exists()
    assert any(log["event"] == "cache_entry_refused" for log in logs)
    assert _client(levels.url).exists(f"{PREFIX}:response:e:k") == 0


def test_ttl_is_a_redis_expiration(levels: RedisLevels) -> None:
    cache = _cache(levels, ttl=30)
    cache.set("k", 1)
    cache.set("forever", 2, ttl=None)
    client = _client(levels.url)
    assert 0 < client.pttl(f"{PREFIX}:response:e:k") <= 30_000
    cache.close()
    persistent = TieredCache("response", level=levels("response"), ttl=None)
    persistent.set("forever", 2)
    assert client.pttl(f"{PREFIX}:response:e:forever") == -1
    persistent.close()


def test_size_is_bounded_per_cache(levels: RedisLevels) -> None:
    small = _cache(levels, "response", max_size=3)
    other = _cache(levels, "embedding", max_size=3)
    other.set("keep", 0)
    for n in range(5):
        small.set(f"k{n}", n)
    assert small.stats()["current_size"] == 3
    fresh = _cache(RedisLevels(levels.url), "response", max_size=3)
    assert [fresh.get(f"k{n}") for n in range(5)] == [None, None, 2, 3, 4]
    assert small.stats()["l2"]["evictions"] == 2
    assert other.get("keep") == 0
    for cache in (small, other, fresh):
        cache.close()


def test_clear_expired_uses_the_caches_clock(levels: RedisLevels, clock: Any) -> None:
    cache = _cache(levels, ttl=60, clock=clock)
    cache.set_many({"a": 1, "b": 2})
    cache.set("long", 3, ttl=600)
    clock.advance(120)
    reader = _cache(RedisLevels(levels.url), clock=clock)
    assert reader.get("a") is None  # expired by the cache's clock, though Redis still has it
    assert reader.clear_expired() == 2
    assert reader.stats()["current_size"] == 1
    cache.close()
    reader.close()


def test_statistics_count_every_process(levels: RedisLevels) -> None:
    first = _cache(levels)
    first.set("k", 1)
    first.get("k")
    first.get("missing")
    first.close()
    second = _cache(RedisLevels(levels.url))
    second.get("k")
    everyone = second.stats()["all_processes"]
    assert (everyone["hits"], everyone["misses"]) == (2, 1)
    second.close()
    assert _client(levels.url).hgetall(f"{PREFIX}:response:stats") == {
        b"hits": b"2",
        b"misses": b"1",
    }


# -- invalidation -----------------------------------------------------------------------


def test_glob_invalidation_scans_in_batches_never_keys(levels: RedisLevels) -> None:
    cache = _cache(levels, max_size=5000)
    cache.set_many({f"q:{n}": n for n in range(1200)})
    cache.set_many({"auth[v1": 1, "authv1": 2})
    client = _client(levels.url)
    client.config_resetstat()
    assert cache.invalidate("q:1*") == 1 + 10 + 100 + 200  # 1, 1x, 1xx, 1xxx
    assert cache.invalidate("auth[v1") == 1  # an unclosed "[" is a literal
    fresh = _cache(RedisLevels(levels.url), max_size=5000)
    assert fresh.get("q:1") is None
    assert fresh.get("q:2") == 2
    assert fresh.get("auth[v1") is None
    assert fresh.get("authv1") == 2
    assert fresh.stats()["current_size"] == 1200 - 311 + 1
    commands = client.info("commandstats")
    assert "cmdstat_scan" in commands
    assert "cmdstat_keys" not in commands
    assert "cmdstat_flushdb" not in commands
    cache.close()
    fresh.close()


def test_clear_of_one_cache_leaves_the_others(levels: RedisLevels) -> None:
    response = _cache(levels, "response")
    embedding = _cache(levels, "embedding")
    response.set_many({"a": 1, "b": 2})
    embedding.set("e", b"\x00")
    client = _client(levels.url)
    client.set("someone-elses-key", "x")
    assert response.clear() == 2
    assert response.stats()["current_size"] == 0
    assert embedding.get("e") == b"\x00"
    assert client.get("someone-elses-key") == b"x"
    response.close()
    embedding.close()


_WORKER = textwrap.dedent(
    """
    import json, sys
    from victor_core import Settings
    from victor_core.cache import CacheManager

    settings = Settings(cache_dir=sys.argv[2], cache_backend="redis", redis_url=sys.argv[1])
    caches = CacheManager(settings)
    cache = caches.get("response")
    print("ready", flush=True)
    for line in sys.stdin:
        op, key, *rest = json.loads(line)
        if op == "set":
            cache.set(key, rest[0])
            out = None
        elif op == "get":
            out = cache.get(key)
        else:
            out = cache.invalidate(key)
        print(json.dumps(out), flush=True)
    caches.close()
    """
)


class Worker:
    """A separate Python process with its own CacheManager on the shared Redis."""

    def __init__(self, url: str, directory: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.ask_line() == "ready"

    def ask_line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def __call__(self, *command: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.ask_line())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def workers(redis_url: str, tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    first = Worker(redis_url, tmp_path / "one")
    try:
        second = Worker(redis_url, tmp_path / "two")
    except BaseException:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


def test_two_processes_share_values_and_invalidations(workers: tuple[Worker, Worker]) -> None:
    one, two = workers
    one("set", "answer", "v1")
    assert two("get", "answer") == "v1"  # from Redis, now in two's L1
    one("set", "answer", "v2")  # an overwrite reaches two's L1
    assert _eventually(lambda: two("get", "answer") == "v2")
    two("set", "other", {"n": 1})
    assert one("get", "other") == {"n": 1}
    assert one("invalidate", "answer*") == 1  # one's L1 and Redis
    assert _eventually(lambda: two("get", "answer") is None)
    assert two("get", "other") == {"n": 1}


# -- Redis down, slow or refusing ---------------------------------------------------------


def test_redis_refusing_gives_misses_and_one_warning() -> None:
    closed = RedisLevels("redis://127.0.0.1:1/0", retry_after=60)
    cache = TieredCache("response", level=closed("response"), ttl=60)
    with capture_logs() as logs:
        cache.set("k", 1)  # kept in memory
        assert cache.get("k") == 1
        assert cache.get("missing") is None
        assert cache.invalidate("*") == 1
        assert cache.stats()["l2"]["available"] is False
    cache.close()
    warnings = [log for log in logs if log["event"] == "cache_redis_unavailable"]
    assert len(warnings) == 1
    assert warnings[0]["url"] == "redis://127.0.0.1:1/0"


def test_a_password_never_reaches_logs_or_stats() -> None:
    levels = RedisLevels("redis://user:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in levels("response").describe()["url"]
    assert "s3cret" not in repr(levels)


def test_redis_killed_mid_run_then_back(tmp_path: Path, redis_server: RedisServer) -> None:
    """The server dies (SIGKILL, by pid): misses and one warning; it returns: reconnected.

    Its own server (the session's one, ``redis_server``, stays up); the fixture
    makes this test skip, or fail under VICTOR_REQUIRE_SERVERS=1, without the binary.
    """
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        levels = RedisLevels(server.url, retry_after=0.05)
        cache = _cache(levels)
        cache.set("before", 1)
        reader = _cache(RedisLevels(server.url, retry_after=0.05))
        assert reader.get("before") == 1
        server.stop(kill=True)
        with capture_logs() as logs:
            assert reader.get("gone") is None
            cache.set("during", 2)  # memory only
            assert cache.get("during") == 2
            assert reader.get("during") is None
            assert reader.get("during") is None
            server.start()

            def back() -> bool:
                cache.set("after", 3)  # goes to Redis again once the cache retries it
                return bool(reader.get("after") == 3)

            assert _eventually(back)
        events = [log["event"] for log in logs]
        assert events.count("cache_redis_unavailable") == 2  # once per cache, per outage
        assert "cache_level_recovered" in events
        cache.close()
        reader.close()
    finally:
        server.stop()


def test_a_server_that_never_answers_costs_one_bounded_call() -> None:
    """A TCP peer that accepts and stays silent: the call times out, the lookup is a miss."""
    import socket
    import threading

    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    levels = RedisLevels(f"redis://127.0.0.1:{port}/0?socket_timeout=0.2", retry_after=60)
    cache = TieredCache("response", level=levels("response"), ttl=60)
    try:
        with capture_logs() as logs:
            assert cache.get("k", "miss") == "miss"
            cache.set("k", 1)  # not retried for retry_after: memory only, no second wait
            assert cache.get("k") == 1
        warnings = [log for log in logs if log["event"] == "cache_redis_unavailable"]
        assert len(warnings) == 1
        assert "Timeout" in warnings[0]["error"]
    finally:
        cache.close()
        stop.set()
        acceptor.join(timeout=5)
        for conn in held:
            conn.close()
        silent.close()
