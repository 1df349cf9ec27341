"""The Redis cache level: one shared L2 for every process and machine using the same Redis.

Layout, per cache (``name`` is ``tool_selection``, ``response`` or ``embedding``)::

    victor:cache:<name>:e:<key>   hash {v: framed value, e: expiry time or ""}, PEXPIRE'd
    victor:cache:<name>:idx       sorted set of keys by store time (size bound, sweeps)
    victor:cache:<name>:stats     hash {hits, misses, evictions} of every process
    victor:cache:invalidate       pub/sub channel: keys removed or overwritten

Values are stored exactly as the disk level stores them (one format byte, then
JSON text or raw bytes) and decoded by the cache, never unpickled. Writes,
size trimming and the invalidation message are one Lua script, so concurrent
writers cannot overshoot ``max_size``. Every process subscribes to the channel
and drops its in-memory copy of each key another process removed or
overwrote; after a lost connection it drops its whole L1, since it may have
missed messages meanwhile.

Each call has a bounded timeout (``socket_timeout`` and
``socket_connect_timeout``, 1 s unless the URL's query says otherwise), no
client-side retries; the cache turns a failure into a miss with one warning
and tries Redis again after ``retry_after`` seconds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from victor_core.cache import InvalidationCallback, glob_prefix, matching_keys

__all__ = ["PREFIX", "RedisLevel", "RedisLevels"]

#: Prefix of every key and of the channel.
PREFIX = "victor:cache"
_CHANNEL = f"{PREFIX}:invalidate"
_BATCH = 500
_DEFAULT_TIMEOUT = 1.0

# KEYS[1] idx; ARGV: entry prefix, expiry ("" none), ttl ms ("" none), max size,
# score, channel, origin, cache name, then key/value pairs.
_SET = """
local idx, prefix, expires = KEYS[1], ARGV[1], ARGV[2]
local ttl, limit, score = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local touched, evicted = {}, {}
for i = 9, #ARGV, 2 do
  local key = ARGV[i]
  local full = prefix .. key
  redis.call('HSET', full, 'v', ARGV[i + 1], 'e', expires)
  if ttl then redis.call('PEXPIRE', full, ttl) else redis.call('PERSIST', full) end
  redis.call('ZADD', idx, score, key)
  touched[#touched + 1] = key
end
local excess = redis.call('ZCARD', idx) - limit
if excess > 0 then
  local popped = redis.call('ZPOPMIN', idx, excess)
  for j = 1, #popped, 2 do
    if redis.call('UNLINK', prefix .. popped[j]) == 1 then
      evicted[#evicted + 1] = popped[j]
      touched[#touched + 1] = popped[j]
    end
  end
end
redis.call('PUBLISH', ARGV[6], cjson.encode({o = ARGV[7], c = ARGV[8], k = touched}))
return evicted
"""


def _glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis MATCH pattern."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


class RedisLevels:
    """The level factory the hook returns: one client, one subscriber, a level per cache.

    Args:
        url: the Redis server (``redis_url``); query options such as
            ``?socket_timeout=0.5`` override the 1 s defaults.
        retry_after: seconds the cache waits after a failure before trying Redis again.
    """

    def __init__(self, url: str, *, retry_after: float = 1.0) -> None:
        self.url = url
        self.retry_after = retry_after
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self._watchers: dict[str, InvalidationCallback] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscribed = threading.Event()
        self._script: Any = None

    def __repr__(self) -> str:
        return f"<RedisLevels {self.safe_url!r}>"

    def __call__(self, name: str) -> RedisLevel:
        return RedisLevel(self, name)

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs and statistics."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def client(self) -> redis.Redis:
        """The shared client, made on first use (connections open lazily)."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = redis.Redis.from_url(
                        self.url,
                        socket_timeout=_DEFAULT_TIMEOUT,
                        socket_connect_timeout=_DEFAULT_TIMEOUT,
                        # One attempt per call: the cache decides when to try again.
                        retry=Retry(NoBackoff(), 0),
                        decode_responses=False,
                    )
                    self._script = self._client.register_script(_SET)
                client = self._client
        return client

    def run_set(self, keys: list[str], args: list[Any]) -> Any:
        """Run the write script (registered with the client)."""
        _ = self.client
        return self._script(keys=keys, args=args)

    # -- invalidation messages ---------------------------------------------------------

    def publish(self, cache: str, keys: list[str] | None) -> None:
        """Tell the other processes that ``keys`` of ``cache`` changed (None: all of them)."""
        message: dict[str, Any] = {"o": self.origin, "c": cache}
        if keys is not None:
            message["k"] = keys
        else:
            message["all"] = True
        self.client.publish(_CHANNEL, json.dumps(message, ensure_ascii=False))

    def watch(self, cache: str, callback: InvalidationCallback) -> None:
        """Deliver other processes' invalidations of ``cache`` to ``callback``.

        The first call starts the subscriber and waits (at most the socket
        timeout) until Redis confirms the subscription, so that no value read
        after this returns can miss its invalidation.
        """
        with self._lock:
            self._watchers[cache] = callback
            started = self._thread is None or not self._thread.is_alive()
            if started:
                self._stop = threading.Event()
                self._subscribed.clear()
                self._thread = threading.Thread(
                    target=self._listen,
                    args=(self._stop,),
                    name="victor-redis-invalidations",
                    daemon=True,
                )
                self._thread.start()
        self._subscribed.wait(timeout=_DEFAULT_TIMEOUT)

    def release(self, cache: str) -> None:
        """``cache`` was closed: stop watching for it; the last one stops the subscriber."""
        with self._lock:
            self._watchers.pop(cache, None)
            if self._watchers:
                return
            thread, self._thread = self._thread, None
            self._stop.set()
            client, self._client = self._client, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * _DEFAULT_TIMEOUT + 1)
        if client is not None:
            with contextlib.suppress(Exception):  # closing a dead connection must not fail
                client.close()

    def _listen(self, stop: threading.Event) -> None:
        delay = 0.05
        lost = False
        while not stop.is_set():
            pubsub = None
            try:
                pubsub = self.client.pubsub()  # type: ignore[no-untyped-call]  # untyped in redis-py
                pubsub.subscribe(_CHANNEL)
                while not stop.is_set():
                    message = pubsub.get_message(timeout=0.2) or {}
                    kind = message.get("type")
                    if kind == "message":
                        self._handle(message.get("data"))
                    elif kind == "subscribe":
                        if lost:
                            # Messages sent while we were away are gone: drop every L1 copy.
                            self._deliver(None, None)
                            lost = False
                        delay = 0.05
                        self._subscribed.set()
            except Exception:
                lost = True
                self._subscribed.clear()
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
            stop.wait(delay)
            delay = min(delay * 2, 1.0)

    def _handle(self, data: Any) -> None:
        try:
            message = json.loads(_text(data))
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("o") == self.origin:
            return
        keys = message.get("k")
        if message.get("all"):
            self._deliver(message.get("c"), None)
        elif isinstance(keys, list):
            self._deliver(message.get("c"), [str(k) for k in keys])
        # cjson encodes an empty list as {}: nothing to drop.

    def _deliver(self, cache: Any, keys: list[str] | None) -> None:
        with self._lock:
            targets = (
                list(self._watchers.values())
                if cache is None
                else [self._watchers[cache]]
                if cache in self._watchers
                else []
            )
        for callback in targets:
            with contextlib.suppress(Exception):  # a callback's bug must not stop delivery
                callback(keys)


class RedisLevel:
    """The shared level of one cache in Redis (see the module docstring for the layout).

    Args:
        levels: the factory holding the client and the subscriber.
        name: the cache's name; every key of this cache is under ``victor:cache:<name>:``.
    """

    backend = "redis"

    def __init__(self, levels: RedisLevels, name: str) -> None:
        self.levels = levels
        self.name = name
        self.retry_after: float | None = levels.retry_after
        self._base = f"{PREFIX}:{name}"
        self._entry = f"{self._base}:e:"
        self._idx = f"{self._base}:idx"
        self._stats = f"{self._base}:stats"

    def __repr__(self) -> str:
        return f"<RedisLevel {self.name!r} {self.levels.safe_url!r}>"

    @property
    def _r(self) -> redis.Redis:
        return self.levels.client

    def get(self, key: str) -> tuple[bytes, float | None] | None:
        value, expires = self._r.hmget(self._entry + key, ["v", "e"])
        if value is None:
            return None
        stamp = _text(expires) if expires is not None else ""
        blob = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
        return blob, float(stamp) if stamp else None

    def set_many(
        self,
        entries: Sequence[tuple[str, bytes]],
        expires: float | None,
        max_size: int,
        ttl: float | None = None,
    ) -> list[str]:
        # Redis expires the entry after ``ttl`` by its own clock; ``expires`` (by
        # the cache's clock) is kept beside the value for the cache to check.
        ttl_ms = "" if ttl is None else str(max(1, math.ceil(ttl * 1000)))
        args: list[Any] = [
            self._entry,
            "" if expires is None else repr(expires),
            ttl_ms,
            max_size,
            repr(time.time()),
            _CHANNEL,
            self.levels.origin,
            self.name,
        ]
        for key, blob in entries:
            args += [key, blob]
        evicted = self.levels.run_set([self._idx], args)
        return [_text(key) for key in evicted or []]

    def _remove(self, keys: list[str]) -> int:
        """UNLINK ``keys`` and drop them from the index, in batches; announce them."""
        removed = 0
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            pipe = self._r.pipeline(transaction=True)
            pipe.unlink(*(self._entry + key for key in chunk))
            pipe.zrem(self._idx, *chunk)
            unlinked, _ = pipe.execute()
            removed += int(unlinked)
            self.levels.publish(self.name, chunk)
        return removed

    def delete(self, key: str) -> bool:
        return self._remove([key]) > 0

    def _scan_keys(self, match: str) -> Any:
        """Yield batches of cache keys (prefix stripped) whose Redis key matches ``match``."""
        batch: list[str] = []
        cut = len(self._entry)
        for full in self._r.scan_iter(match=_glob_escape(self._entry) + match, count=_BATCH):
            batch.append(_text(full)[cut:])
            if len(batch) >= _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def delete_matching(self, pattern: str) -> list[str]:
        # SCAN narrows by the literal prefix; matching_keys decides (fnmatch
        # semantics, the same as every other level). Never KEYS.
        gone: list[str] = []
        for batch in self._scan_keys(_glob_escape(glob_prefix(pattern)) + "*"):
            chosen = sorted(matching_keys(pattern, batch))
            if chosen:
                self._remove(chosen)
                gone += chosen
        return gone

    def clear_expired(self, now: float) -> list[str]:
        # Redis expires entries by itself; this prunes the index of those, and
        # removes entries whose expiry (by the cache's clock) has passed.
        gone: list[str] = []
        cursor = 0
        while True:
            cursor, members = self._r.zscan(self._idx, cursor, count=_BATCH)
            keys = [_text(member) for member, _ in members]
            if keys:
                pipe = self._r.pipeline(transaction=False)
                for key in keys:
                    pipe.hget(self._entry + key, "e")
                stamps = pipe.execute()
                stale = [
                    key
                    for key, stamp in zip(keys, stamps, strict=True)
                    if stamp is None or (_text(stamp) and float(_text(stamp)) <= now)
                ]
                if stale:
                    self._remove(stale)
                    gone += stale
            if not cursor:
                return gone

    def clear(self) -> int:
        removed = 0
        for batch in self._scan_keys("*"):
            removed += int(self._r.unlink(*(self._entry + key for key in batch)))
        self._r.unlink(self._idx)
        self.levels.publish(self.name, None)
        return removed

    def size(self) -> int:
        return int(self._r.zcard(self._idx))

    def stats(self) -> dict[str, int]:
        raw = self._r.hgetall(self._stats)
        return {_text(key): int(value) for key, value in raw.items()}

    def add_stats(self, hits: int, misses: int, evictions: int) -> None:
        pipe = self._r.pipeline(transaction=True)
        for field, delta in (("hits", hits), ("misses", misses), ("evictions", evictions)):
            if delta:
                pipe.hincrby(self._stats, field, delta)
        pipe.execute()

    def watch(self, callback: InvalidationCallback) -> None:
        self.levels.watch(self.name, callback)

    def describe(self) -> dict[str, Any]:
        return {"url": self.levels.safe_url}

    def close(self) -> None:
        self.levels.release(self.name)
