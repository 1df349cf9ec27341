"""ConnectionPool (bounded, overflow, timeouts, threads, asyncio) and ObjectPool."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from victor_core.exceptions import VictorError
from victor_core.health._pools import ConnectionPool, ObjectPool, PoolClosedError, PoolTimeoutError
from victor_core.settings import Settings


class Conn:
    opened = 0

    def __init__(self) -> None:
        Conn.opened += 1
        self.id = Conn.opened
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def _reset() -> None:
    Conn.opened = 0


def test_connections_are_reused() -> None:
    pool = ConnectionPool(Conn, size=2)
    with pool.acquire() as first:
        pass
    with pool.acquire() as second:
        pass
    assert first is second
    assert Conn.opened == 1
    stats = pool.stats()
    assert stats["acquired"] == 2
    assert stats["created"] == 1
    assert stats["idle"] == 1
    assert stats["checked_out"] == 0
    pool.close()
    assert first.closed


def test_overflow_is_bounded_and_closed_on_return() -> None:
    pool = ConnectionPool(Conn, size=2, max_overflow=1, timeout=5, name="db")
    held = [pool.acquire_connection() for _ in range(3)]
    assert pool.stats()["overflow"] == 1
    with pytest.raises(
        PoolTimeoutError, match=r"'db'.*within 0.01 s.*size=2, max_overflow=1"
    ) as info:
        pool.acquire_connection(timeout=0.01)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, VictorError)
    assert info.value.pool == "db"
    for conn in held:
        pool.release(conn)
    stats = pool.stats()
    assert stats["open"] == 2
    assert stats["idle"] == 2
    assert stats["timeouts"] == 1
    assert stats["peak_checked_out"] == 3
    assert sum(c.closed for c in held) == 1  # the overflow connection
    pool.close()


def test_a_waiting_thread_gets_the_released_connection() -> None:
    pool = ConnectionPool(Conn, size=1, timeout=5)
    conn = pool.acquire_connection()
    got: list[Any] = []
    waiting = threading.Event()

    def worker() -> None:
        waiting.set()
        got.append(pool.acquire_connection())

    thread = threading.Thread(target=worker)
    thread.start()
    waiting.wait()
    while pool.stats()["waiting"] == 0:
        threading.Event().wait(0.001)
    pool.release(conn)
    thread.join(5)
    assert got == [conn]
    pool.release(conn)
    pool.close()


def test_many_threads_never_exceed_the_bound() -> None:
    pool = ConnectionPool(Conn, size=2, max_overflow=1, timeout=10)
    errors: list[BaseException] = []
    in_use = 0
    peak = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal in_use, peak
        try:
            for _ in range(50):
                with pool.acquire():
                    with lock:
                        in_use += 1
                        peak = max(peak, in_use)
                    with lock:
                        in_use -= 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert peak <= 3
    stats = pool.stats()
    assert stats["acquired"] == 400
    assert stats["checked_out"] == 0
    assert stats["open"] <= 2
    assert Conn.opened <= 3 + stats["closed"]
    pool.close()


def test_async_acquire_waits_without_blocking_the_loop() -> None:
    pool = ConnectionPool(Conn, size=1, timeout=5)

    async def main() -> tuple[Any, ...]:
        first = await pool.acquire_connection_async()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            for _ in range(5):
                ticks += 1
                await asyncio.sleep(0)
            pool.release(first)

        waiter = asyncio.ensure_future(pool.acquire_connection_async())
        await ticker()
        second = await waiter
        pool.release(second)
        async with pool.aacquire() as third:
            pass
        return first, second, third, ticks

    first, second, third, ticks = asyncio.run(main())
    assert first is second is third
    assert ticks == 5
    pool.close()


def test_async_acquire_times_out_and_cancels_cleanly() -> None:
    pool = ConnectionPool(Conn, size=1)

    async def main() -> None:
        conn = await pool.acquire_connection_async()
        with pytest.raises(PoolTimeoutError):
            await pool.acquire_connection_async(timeout=0.01)
        task = asyncio.ensure_future(pool.acquire_connection_async(timeout=5))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.stats()["waiting"] == 0
        pool.release(conn)
        async with pool.aacquire(timeout=0.5) as again:
            assert again is conn

    asyncio.run(main())
    pool.close()


def test_a_failing_factory_frees_its_slot() -> None:
    calls = 0

    def factory() -> Conn:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("connection refused")
        return Conn()

    pool = ConnectionPool(factory, size=1)
    with pytest.raises(OSError, match="refused"):
        pool.acquire_connection()
    assert pool.stats()["open"] == 0
    with pool.acquire(timeout=0.1) as conn:
        assert isinstance(conn, Conn)
    pool.close()


def test_discard_drain_and_close() -> None:
    pool = ConnectionPool(Conn, size=3, close=lambda c: c.close())
    conns = [pool.acquire_connection() for _ in range(3)]
    pool.release(conns[0], discard=True)
    assert conns[0].closed
    pool.release(conns[1])
    pool.release(conns[2])
    assert pool.drain() == 2
    assert all(c.closed for c in conns)
    assert pool.stats()["open"] == 0
    held = pool.acquire_connection()
    pool.close()
    with pytest.raises(PoolClosedError, match="is closed"):
        pool.acquire_connection()
    assert not held.closed
    pool.release(held)  # returned after close: closed, not kept
    assert held.closed
    pool.close()  # idempotent


def test_close_wakes_waiters_with_an_error() -> None:
    pool = ConnectionPool(Conn, size=1, timeout=10)
    conn = pool.acquire_connection()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            pool.acquire_connection()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    while pool.stats()["waiting"] == 0:
        threading.Event().wait(0.001)
    pool.close()
    thread.join(5)
    assert len(errors) == 1
    assert isinstance(errors[0], PoolClosedError)
    pool.release(conn)


def test_a_failing_close_is_logged_not_raised() -> None:
    def bad_close(conn: Conn) -> None:
        raise RuntimeError("close failed")

    pool = ConnectionPool(Conn, size=1, close=bad_close)
    with pool.acquire():
        pass
    assert pool.drain() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "size must be an int, 1 or more"),
        ({"size": 2, "max_overflow": -1}, "max_overflow must be an int, 0 or more"),
        ({"size": 2, "timeout": -1}, "timeout must be a number of seconds"),
        ({"size": True}, "size must be an int"),
    ],
)
def test_bad_pool_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConnectionPool(Conn, **kwargs)


def test_pool_sizes_come_from_settings() -> None:
    settings = Settings(connection_pool_size=4, connection_pool_max_overflow=2)
    pool = ConnectionPool.from_settings(Conn, settings, name="http")
    assert (pool.size, pool.max_overflow, pool.name) == (4, 2, "http")
    assert "http" in repr(pool)


# -- ObjectPool -----------------------------------------------------------------------------


def test_object_pool_reuses_and_resets() -> None:
    pool: ObjectPool[list[int]] = ObjectPool(list, size=2, reset=list.clear)
    first = pool.acquire()
    first.append(1)
    pool.release(first)
    again = pool.acquire()
    assert again is first
    assert again == []
    with pool.borrow() as borrowed:
        assert borrowed is not first
    pool.release(first)
    pool.release([])
    pool.release([])  # beyond size: dropped (with the one above)
    stats = pool.stats()
    assert stats == {"enabled": True, "size": 2, "idle": 2, "hits": 1, "misses": 2, "dropped": 2}
    assert pool.clear() == 2


def test_disabled_object_pool_always_builds() -> None:
    settings = Settings(use_memory_pools=False, memory_pool_size=5)
    pool: ObjectPool[dict[str, Any]] = ObjectPool.from_settings(dict, settings)
    first = pool.acquire()
    pool.release(first)
    assert pool.acquire() is not first
    assert pool.stats()["idle"] == 0
    enabled: ObjectPool[dict[str, Any]] = ObjectPool.from_settings(
        dict, settings.evolve(use_memory_pools=True)
    )
    assert enabled.size == 5
    assert enabled.enabled
