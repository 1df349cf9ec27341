"""Safe storage for the disk level of :class:`~victor_core.cache.TieredCache`.

diskcache's :class:`diskcache.Disk` unpickles any row whose ``mode`` column
says "pickle", whatever serializer wrote the cache (``JSONDisk`` included).
Anyone able to write to the cache directory could then run code in every
process that reads it. :class:`SafeDisk` stores only byte strings and refuses,
on read, every row that is not an inline byte string: such a row is reported
as :class:`UndecodableEntry` and the cache treats it as a miss.

Values reach this layer already framed by the cache (one format byte, then
JSON text or raw bytes; see :mod:`victor_core.cache`), so decoding a row can
never execute code.

This module imports diskcache and sqlite3; it is imported only when a cache
first touches its disk level.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import diskcache

from victor_core.cache._tiered import UndecodableEntry

__all__ = ["SafeDisk", "open_store"]

# diskcache's row modes (diskcache.core.MODE_*); only inline rows are accepted.
_MODE_RAW = 1


class SafeDisk(diskcache.Disk):  # type: ignore[misc]  # diskcache ships no type hints
    """A :class:`diskcache.Disk` that stores byte strings inline and never unpickles.

    Keys must be ``str``; values must be ``bytes`` (already framed by
    the cache). Rows written by anything else - a pickle, a file
    value, a pickled key - raise :class:`UndecodableEntry` when read.
    """

    def put(self, key: Any) -> tuple[Any, bool]:
        """Store ``str`` keys raw; refuse other key types rather than pickle them."""
        if type(key) is not str:
            raise TypeError(f"cache keys must be str (got {type(key).__name__})")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        """Return a raw key; a pickled key is refused."""
        if not raw:
            raise UndecodableEntry("refusing to unpickle a stored key")
        return bytes(key) if type(key) is sqlite3.Binary else key

    def store(self, value: Any, read: bool, key: Any = None) -> tuple[int, int, None, Any]:
        """Store framed bytes inline in the database row (no files, no pickle)."""
        if read or type(value) is not bytes:
            raise TypeError("SafeDisk stores only framed bytes values")
        return 0, _MODE_RAW, None, sqlite3.Binary(value)

    def remove(self, file_path: str) -> None:
        """Remove a value file, but only one inside the cache directory.

        We never write value files, so a row naming one was planted; its
        ``filename`` could point anywhere ("../../.bashrc", a symbolic link).
        """
        base = os.path.realpath(self._directory)
        target = os.path.realpath(os.path.join(base, str(file_path)))
        if os.path.commonpath([base, target]) != base or target == base:
            return
        super().remove(os.path.relpath(target, base))

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> bytes:
        """Return the stored bytes of an inline row; refuse every other mode.

        Raises:
            UndecodableEntry: the row is a pickle, a file or not a byte string.
        """
        if mode != _MODE_RAW or filename is not None or read:
            raise UndecodableEntry(f"refusing to read a row of mode {mode} (only inline bytes)")
        if type(value) is bytes:
            return value
        if isinstance(value, (sqlite3.Binary, memoryview, bytearray)):
            return bytes(value)
        raise UndecodableEntry(f"refusing a row holding {type(value).__name__}, not bytes")


class _Store(diskcache.Cache):  # type: ignore[misc]  # diskcache ships no type hints
    """diskcache's Cache with a bounded retry for the statements of its set-up.

    diskcache retries "database is locked" during construction for 60 seconds;
    a cache must give up much sooner and let its caller fall back to memory.
    """

    def __init__(self, directory: str, *, retry_for: float, **settings: Any) -> None:
        self._retry_for = retry_for
        try:
            super().__init__(directory, **settings)
        except BaseException:
            # A half-built store may hold this thread's connection: release it.
            with contextlib.suppress(Exception):
                self.close()
            raise

    @property
    def _sql_retry(self) -> Callable[..., Any]:
        sql = self._sql
        limit = self._retry_for

        def execute(statement: str, *args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            delay = 0.001
            while True:
                try:
                    return sql(statement, *args, **kwargs)
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() - start > limit:
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)

        return execute


# Lookup counters summed over every process that used the store (flushed on close).
_STATS_TABLE = (
    "CREATE TABLE IF NOT EXISTS VictorStats (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
)


def _is_busy(exc: BaseException) -> bool:
    if isinstance(exc, diskcache.Timeout):
        return True
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


def open_store(directory: str, *, timeout: float) -> diskcache.Cache:
    """Open (creating if needed) the diskcache store of a tiered cache.

    Several processes may open the same directory at once; "database is
    locked" during set-up is retried with exponential backoff for about
    ``timeout`` seconds in all before the error is raised.

    Args:
        directory: an existing directory.
        timeout: seconds to wait on a busy database, per statement and for set-up.

    Returns:
        The open store.

    Raises:
        sqlite3.Error, OSError, diskcache.Timeout: the store cannot be opened.
    """
    deadline = time.monotonic() + max(timeout, 0.05)
    delay = 0.005
    while True:
        try:
            # Byte-counted culling is off (size_limit): the tiered cache counts
            # entries itself. "least-recently-stored" keeps reads write-free.
            store = _Store(
                directory,
                retry_for=timeout,
                timeout=timeout,
                disk=SafeDisk,
                eviction_policy="least-recently-stored",
                size_limit=2**62,
                cull_limit=0,
                statistics=0,
                tag_index=1,
            )
            try:
                store._sql_retry(_STATS_TABLE)
            except BaseException:
                with contextlib.suppress(Exception):
                    store.close()
                raise
            return store
        except Exception as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
