"""Bounded connection pools and a small object pool.

:class:`ConnectionPool` keeps up to ``size`` connections open for reuse and
opens up to ``max_overflow`` more under load (closed again when returned
while the pool is full), as SQLAlchemy's ``QueuePool`` does. Beyond that,
callers wait, first come first served, up to a timeout. It is thread-safe,
and :meth:`ConnectionPool.aacquire` waits without blocking the event loop::

    pool = ConnectionPool.from_settings(lambda: httpx.Client(), settings, close=lambda c: c.close())
    async with pool.aacquire() as client:
        ...

:class:`ObjectPool` (``use_memory_pools``, ``memory_pool_size``) reuses
objects instead of building new ones. Measured on CPython 3.11 it does *not*
pay off for small objects: acquire plus release costs 0.6-0.9 µs, building a
dict 0.04 µs (CPython's allocator already recycles small blocks). It pays off
only for objects that are expensive to build: allocating a 64 KiB buffer
takes about 2 µs. ``victor bench memory`` measures both ratios. victor-core
pools nothing by default; with ``use_memory_pools=False`` (the default) a pool
builds a new object every time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from victor_core.exceptions import PoolClosedError, PoolTimeoutError

if TYPE_CHECKING:
    from victor_core.settings import Settings

__all__ = ["ConnectionPool", "ObjectPool", "PoolClosedError", "PoolTimeoutError"]

T = TypeVar("T")


def _check_int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} must be an int, {lo} or more (got {value!r})")
    return value


class _Waiter:
    """A caller waiting for a connection; the releasing thread hands one over."""

    __slots__ = ("conn", "event", "future", "granted", "loop")

    def __init__(self, loop: Any = None) -> None:
        self.granted = False
        self.conn: Any = None
        self.loop = loop
        self.event: threading.Event | None = None
        self.future: Any = None
        if loop is None:
            self.event = threading.Event()
        else:
            self.future = loop.create_future()

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()
        else:
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(None)


class ConnectionPool(Generic[T]):
    """A bounded, thread-safe pool of reusable connections.

    Args:
        factory: opens a new connection (called outside the pool's lock).
        size: connections kept open for reuse.
        max_overflow: extra connections opened under load and closed on return.
        timeout: seconds :meth:`acquire` waits for a free connection by default.
        close: closes a connection (default: its ``close()`` method, if any).
        name: shown in errors, logs and stats.

    Raises:
        ValueError: a size, overflow or timeout out of range.
    """

    def __init__(
        self,
        factory: Callable[[], T],
        *,
        size: int,
        max_overflow: int = 0,
        timeout: float = 30.0,
        close: Callable[[T], Any] | None = None,
        name: str = "pool",
    ) -> None:
        self.size = _check_int("size", size, 1)
        self.max_overflow = _check_int("max_overflow", max_overflow, 0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"timeout must be a number of seconds, 0 or more (got {timeout!r})")
        self.timeout = float(timeout)
        self.name = name
        self._factory = factory
        self._close = close
        self._lock = threading.Lock()
        self._idle: deque[T] = deque()
        self._waiters: deque[_Waiter] = deque()
        self._open = 0  # connections that exist: idle + checked out + being opened
        self._checked_out = 0
        self._closed = False
        self._stats = {
            "acquired": 0,
            "created": 0,
            "closed": 0,
            "waits": 0,
            "timeouts": 0,
            "peak_checked_out": 0,
        }
        self._wait_seconds = 0.0

    @classmethod
    def from_settings(
        cls,
        factory: Callable[[], T],
        settings: Settings,
        *,
        timeout: float = 30.0,
        close: Callable[[T], Any] | None = None,
        name: str = "pool",
    ) -> ConnectionPool[T]:
        """A pool sized by ``connection_pool_size`` and ``connection_pool_max_overflow``."""
        return cls(
            factory,
            size=settings.connection_pool_size,
            max_overflow=settings.connection_pool_max_overflow,
            timeout=timeout,
            close=close,
            name=name,
        )

    def __repr__(self) -> str:
        return (
            f"<ConnectionPool {self.name!r} size={self.size} overflow={self.max_overflow} "
            f"open={self._open} checked_out={self._checked_out}>"
        )

    # -- acquire / release -------------------------------------------------------------

    def _try_take(self) -> tuple[bool, T | None, bool]:
        """Under the lock: (got, conn, must_open). ``must_open``: a slot was reserved."""
        if self._closed:
            raise PoolClosedError(f"connection pool {self.name!r} is closed", pool=self.name)
        if self._idle and not self._waiters:
            conn = self._idle.pop()  # most recently used: warmest, least likely stale
            self._check_out()
            return True, conn, False
        if self._open < self.size + self.max_overflow and not self._waiters:
            self._open += 1
            self._check_out()
            return True, None, True
        return False, None, False

    def _check_out(self) -> None:
        # Under the lock.
        self._checked_out += 1
        self._stats["acquired"] += 1
        self._stats["peak_checked_out"] = max(self._stats["peak_checked_out"], self._checked_out)

    def _grant(self, waiter: _Waiter, conn: T | None) -> None:
        # Under the lock: hand ``conn`` (None: a slot to open one) to a waiter.
        self._check_out()
        waiter.granted = True
        waiter.conn = conn
        waiter.wake()

    def _opened(self, must_open: bool, conn: T | None) -> T:
        if not must_open:
            return conn  # type: ignore[return-value]
        try:
            new = self._factory()
        except BaseException:
            with self._lock:
                self._open -= 1
                self._checked_out -= 1
                self._hand_over_slot()
            raise
        with self._lock:
            self._stats["created"] += 1
        return new

    def _hand_over_slot(self) -> None:
        # Under the lock: a slot freed up; let the first waiter open a connection.
        if self._waiters and self._open < self.size + self.max_overflow:
            self._open += 1
            self._grant(self._waiters.popleft(), None)

    def _timeout(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else max(0.0, float(timeout))

    def acquire_connection(self, timeout: float | None = None) -> T:
        """Take a connection, waiting up to ``timeout`` seconds (default: the pool's).

        Give it back with :meth:`release`; prefer the :meth:`acquire` context manager.

        Raises:
            PoolTimeoutError: none became free in time.
            PoolClosedError: the pool is closed.
        """
        with self._lock:
            got, conn, must_open = self._try_take()
            if not got:
                waiter = _Waiter()
                self._waiters.append(waiter)
                self._stats["waits"] += 1
        if got:
            return self._opened(must_open, conn)
        limit = self._timeout(timeout)
        started = time.monotonic()
        if waiter.event is not None:  # always, for a thread's waiter
            waiter.event.wait(limit)
        return self._after_wait(waiter, started, limit)

    def _after_wait(self, waiter: _Waiter, started: float, limit: float) -> T:
        with self._lock:
            self._wait_seconds += time.monotonic() - started
            if not waiter.granted:
                with suppress(ValueError):
                    self._waiters.remove(waiter)
                if self._closed:
                    raise PoolClosedError(
                        f"connection pool {self.name!r} is closed", pool=self.name
                    )
                self._stats["timeouts"] += 1
                raise PoolTimeoutError(
                    f"connection pool {self.name!r}: no connection free within {limit:g} s "
                    f"(size={self.size}, max_overflow={self.max_overflow}, all "
                    f"{self._checked_out} in use)",
                    pool=self.name,
                )
        return self._opened(waiter.conn is None, waiter.conn)

    async def acquire_connection_async(self, timeout: float | None = None) -> T:
        """Like :meth:`acquire_connection`, waiting without blocking the event loop."""
        import asyncio

        with self._lock:
            got, conn, must_open = self._try_take()
            if not got:
                waiter = _Waiter(asyncio.get_running_loop())
                self._waiters.append(waiter)
                self._stats["waits"] += 1
        if got:
            return self._opened(must_open, conn)
        limit = self._timeout(timeout)
        started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), limit)
        except asyncio.TimeoutError:
            pass
        except asyncio.CancelledError:
            with self._lock:
                if waiter.granted:
                    # Handed a connection (or a slot) as we were cancelled: give it back.
                    self._give_back(waiter.conn, opened=waiter.conn is not None)
                else:
                    self._waiters.remove(waiter)
            raise
        return self._after_wait(waiter, started, limit)

    def release(self, conn: T, *, discard: bool = False) -> None:
        """Return a connection; ``discard=True`` closes it instead (it is broken)."""
        to_close: T | None = None
        with self._lock:
            self._checked_out -= 1
            if discard or self._closed:
                self._open -= 1
                to_close = conn
                self._hand_over_slot()
            elif self._waiters:
                self._grant(self._waiters.popleft(), conn)
            elif self._open > self.size:
                self._open -= 1  # an overflow connection: not kept
                to_close = conn
            else:
                self._idle.append(conn)
        if to_close is not None:
            self._close_one(to_close)

    def _give_back(self, conn: T | None, *, opened: bool) -> None:
        # Under the lock: undo a grant that nobody will use.
        self._checked_out -= 1
        if not opened:
            self._open -= 1
            self._hand_over_slot()
        elif self._waiters:
            self._grant(self._waiters.popleft(), conn)
        else:
            self._idle.append(conn)  # type: ignore[arg-type]

    @contextmanager
    def acquire(self, timeout: float | None = None) -> Iterator[T]:
        """``with pool.acquire() as conn:`` take a connection and give it back."""
        conn = self.acquire_connection(timeout)
        try:
            yield conn
        finally:
            self.release(conn)

    @asynccontextmanager
    async def aacquire(self, timeout: float | None = None) -> AsyncIterator[T]:
        """``async with pool.aacquire() as conn:`` the event-loop friendly :meth:`acquire`."""
        conn = await self.acquire_connection_async(timeout)
        try:
            yield conn
        finally:
            self.release(conn)

    # -- shrinking and closing ---------------------------------------------------------

    def _close_one(self, conn: T) -> None:
        try:
            if self._close is not None:
                self._close(conn)
            else:
                closer = getattr(conn, "close", None)
                if callable(closer):
                    closer()
        except Exception as exc:
            # A connection failing to close must not break the caller.
            from victor_core._log import get_logger

            get_logger().warning("pool_close_failed", pool=self.name, error=repr(exc))
        with self._lock:
            self._stats["closed"] += 1

    def drain(self) -> int:
        """Close every idle connection (memory shedding); return how many."""
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
            self._open -= len(idle)
            for _ in idle:
                self._hand_over_slot()
        for conn in idle:
            self._close_one(conn)
        return len(idle)

    def close(self) -> None:
        """Close idle connections now and the others as they come back (idempotent)."""
        with self._lock:
            self._closed = True
            waiters = list(self._waiters)
            self._waiters.clear()
        for waiter in waiters:
            waiter.wake()
        self.drain()

    def __enter__(self) -> ConnectionPool[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Sizes and counters: ``size``, ``max_overflow``, ``open``, ``idle``,
        ``checked_out``, ``overflow``, ``waiting``, ``acquired``, ``created``,
        ``closed``, ``waits``, ``timeouts``, ``peak_checked_out``, ``wait_seconds``."""
        with self._lock:
            return {
                "name": self.name,
                "size": self.size,
                "max_overflow": self.max_overflow,
                "open": self._open,
                "idle": len(self._idle),
                "checked_out": self._checked_out,
                "overflow": max(0, self._open - self.size),
                "waiting": len(self._waiters),
                **self._stats,
                "wait_seconds": self._wait_seconds,
                "closed_pool": self._closed,
            }


class ObjectPool(Generic[T]):
    """Reuses objects of one kind instead of building new ones.

    Args:
        factory: builds a new object.
        size: most idle objects kept (``memory_pool_size``).
        reset: makes a returned object ready for reuse (for example ``list.clear``).
        enabled: False makes :meth:`acquire` always build and :meth:`release` drop
            (``use_memory_pools``).

    Thread-safe. See the module docstring for when it helps (rarely, in CPython).
    """

    def __init__(
        self,
        factory: Callable[[], T],
        *,
        size: int = 1000,
        reset: Callable[[T], Any] | None = None,
        enabled: bool = True,
    ) -> None:
        self.size = _check_int("size", size, 1)
        self.enabled = bool(enabled)
        self._factory = factory
        self._reset = reset
        self._free: list[T] = []
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.dropped = 0

    @classmethod
    def from_settings(
        cls,
        factory: Callable[[], T],
        settings: Settings,
        *,
        reset: Callable[[T], Any] | None = None,
    ) -> ObjectPool[T]:
        """A pool sized by ``memory_pool_size``, enabled by ``use_memory_pools``."""
        return cls(
            factory, size=settings.memory_pool_size, reset=reset, enabled=settings.use_memory_pools
        )

    def acquire(self) -> T:
        """An idle object if there is one, else a new one."""
        if self.enabled:
            with self._lock:
                if self._free:
                    self.hits += 1
                    return self._free.pop()
                self.misses += 1
        return self._factory()

    def release(self, obj: T) -> None:
        """Give an object back (reset, then kept if there is room)."""
        if not self.enabled:
            return
        if self._reset is not None:
            self._reset(obj)
        with self._lock:
            if len(self._free) < self.size:
                self._free.append(obj)
                return
            self.dropped += 1

    @contextmanager
    def borrow(self) -> Iterator[T]:
        """``with pool.borrow() as obj:`` acquire and release."""
        obj = self.acquire()
        try:
            yield obj
        finally:
            self.release(obj)

    def clear(self) -> int:
        """Drop every idle object (memory shedding); return how many."""
        with self._lock:
            n = len(self._free)
            self._free.clear()
        return n

    def stats(self) -> dict[str, Any]:
        """``enabled``, ``size``, ``idle``, ``hits``, ``misses``, ``dropped``."""
        with self._lock:
            return {
                "enabled": self.enabled,
                "size": self.size,
                "idle": len(self._free),
                "hits": self.hits,
                "misses": self.misses,
                "dropped": self.dropped,
            }
