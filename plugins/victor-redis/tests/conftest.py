"""Fixtures of the victor-redis tests: one throwaway redis-server per session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from victor_redis.testing import RedisServer, redis_server

__all__ = ["redis_server"]


class Clock:
    """A hand-moved wall clock (starts at the real time, so Redis TTLs stay sensible)."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session server's URL, emptied after each test."""
    yield redis_server.url
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushdb()  # the throwaway test server only; the level itself never flushes
    finally:
        client.close()


@pytest.fixture
def levels(redis_url: str) -> Iterator[Any]:
    """A level factory on the session server, its subscriber stopped after the test."""
    from victor_redis.level import RedisLevels

    made = RedisLevels(redis_url, retry_after=0.05)
    yield made
    for name in list(made._watchers):
        made.release(name)
    made.release("")
