"""The disk level of :class:`~victor_core.cache.TieredCache`: a diskcache store, stored safely.

diskcache's :class:`diskcache.Disk` unpickles any row whose ``mode`` column
says "pickle", whatever serializer wrote the cache (``JSONDisk`` included).
Anyone able to write to the cache directory could then run code in every
process that reads it. :class:`SafeDisk` stores only byte strings and refuses,
on read, every row that is not an inline byte string: such a row is reported
as :class:`UndecodableEntry` and the cache treats it as a miss.

Values reach this layer already framed by the cache (one format byte, then
JSON text or raw bytes; see :mod:`victor_core.cache`), so decoding a row can
never execute code.

This module is the only one that reaches diskcache's private ``_sql``
(the connection's ``execute``) and its table layout (``Cache``: ``key``,
``raw``, ``tag``, ``mode``, ``filename``, ``value``, ``store_time``;
``Settings``: ``count``): diskcache has no public API for an indexed read of
one row without its expiry bookkeeping, for counting rows, for trimming by
store time in the same transaction as a write, or for bounding its own retry
loops. tests/test_cache_level.py pins each of these, so a diskcache release
that changes them fails loudly there.

This module imports diskcache and sqlite3; it is imported only when a cache
first touches its disk level.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import diskcache

from victor_core.cache._level import InvalidationCallback, UndecodableEntry
from victor_core.cache.keys import glob_prefix, matching_keys
from victor_core.exceptions import UnencodableValueError

__all__ = ["DiskLevel", "SafeDisk", "open_store"]

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
            raise UnencodableValueError(f"cache keys must be str (got {type(key).__name__})")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        """Return a raw key; a pickled key is refused."""
        if not raw:
            raise UndecodableEntry("refusing to unpickle a stored key")
        return bytes(key) if type(key) is sqlite3.Binary else key

    def store(self, value: Any, read: bool, key: Any = None) -> tuple[int, int, None, Any]:
        """Store framed bytes inline in the database row (no files, no pickle)."""
        if read or type(value) is not bytes:
            raise UnencodableValueError(
                "SafeDisk stores only framed bytes values "
                f"(got {type(value).__name__}, read={read})"
            )
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
    """diskcache's Cache with its set-up bounded by ``retry_for`` seconds.

    During construction diskcache retries "database is locked" for 60
    seconds: in ``_sql_retry`` and again in the PRAGMA loop of ``reset()``,
    which calls ``_sql`` directly. A database locked by another process
    (``PRAGMA locking_mode=EXCLUSIVE``) would stall every open for about a
    minute. Both paths go through the two properties below, which raise
    :class:`diskcache.Timeout` once the set-up deadline has passed (the PRAGMA
    loop re-raises anything that is not "database is locked").
    """

    def __init__(self, directory: str, *, retry_for: float, **settings: Any) -> None:
        self._retry_for = retry_for
        # Deadline of the bounded section running in this thread (None: none).
        self._bound = threading.local()
        self._bound.deadline = time.monotonic() + retry_for
        try:
            super().__init__(directory, **settings)
        except BaseException:
            # A half-built store may hold this thread's connection: release it.
            with contextlib.suppress(Exception):
                self.close()
            raise
        finally:
            self._bound.deadline = None

    def reset(self, *args: Any, **kwargs: Any) -> Any:
        """diskcache's ``reset``, its PRAGMA retry loop bounded by ``retry_for``.

        Every new connection (one per thread) runs it for each stored pragma.
        """
        if getattr(self._bound, "deadline", None) is not None:
            return super().reset(*args, **kwargs)
        self._bound.deadline = time.monotonic() + self._retry_for
        try:
            return super().reset(*args, **kwargs)
        finally:
            self._bound.deadline = None

    @property
    def _sql(self) -> Callable[..., Any]:
        execute: Callable[..., Any] = self._con.execute
        deadline = getattr(self._bound, "deadline", None)
        if deadline is None:
            return execute

        def bounded(statement: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return execute(statement, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) and time.monotonic() > deadline:
                    raise diskcache.Timeout(f"cache database is locked: {exc}") from None
                raise

        return bounded

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
                retry_for=max(deadline - time.monotonic(), 0.01),
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


# The columns of diskcache's Cache table read on a lookup; "tag" holds the
# expiry time by the cache's clock (diskcache's own expire_time uses time.time).
_SELECT = "SELECT tag, mode, filename, value FROM Cache WHERE key = ? AND raw = 1"
_COUNT = 'SELECT value FROM Settings WHERE key = "count"'


def _make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by the owner only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is masked by the umask and ignored for an existing
    # directory; tighten our own directory explicitly.
    owner = getattr(os, "geteuid", None)
    if owner is None or path.stat().st_uid == owner():
        path.chmod(0o700)


class DiskLevel:
    """The built-in shared level: a diskcache (SQLite) store in ``directory``.

    Shared by the processes of one machine that use the same directory. The
    store is opened on first use; any error closes it, and the cache then
    keeps working from memory (``retry_after`` is None: a broken, locked or
    unwritable directory is not retried in this process).

    Args:
        directory: the store's directory (created owner-only, 0700).
        timeout: seconds any open or statement may wait on a busy database.
    """

    backend = "disk"
    retry_after: float | None = None

    def __init__(self, directory: str | os.PathLike[str], *, timeout: float = 2.0) -> None:
        self.directory = Path(directory)
        self.timeout = timeout
        self._store: diskcache.Cache | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<DiskLevel {str(self.directory)!r}>"

    def _open(self) -> Any:
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                _make_private_dir(self.directory)
                self._store = open_store(str(self.directory), timeout=self.timeout)
            return self._store

    def _run(self, operation: Callable[[Any], Any]) -> Any:
        """Run ``operation(store)``; on an error other than a refused entry, close the store."""
        store = self._open()
        try:
            return operation(store)
        except UndecodableEntry:
            raise
        except BaseException:
            self.close()
            raise

    def get(self, key: str) -> tuple[bytes, float | None] | None:
        def read(store: Any) -> tuple[bytes, float | None] | None:
            # One indexed SELECT; diskcache's get() adds little but overhead here.
            rows = store._sql(_SELECT, (key,)).fetchall()
            if not rows:
                return None
            ((expires, mode, filename, stored),) = rows
            if expires is not None and type(expires) not in (float, int):
                raise UndecodableEntry(f"expiry time is {type(expires).__name__}")
            blob = store.disk.fetch(mode, filename, stored, False)
            return blob, None if expires is None else float(expires)

        result: tuple[bytes, float | None] | None = self._run(read)
        return result

    def set_many(
        self,
        entries: Sequence[tuple[str, bytes]],
        expires: float | None,
        max_size: int,
        ttl: float | None = None,
    ) -> list[str]:
        def write(store: Any) -> list[str]:
            with store.transact():
                for key, blob in entries:
                    store.set(key, blob, tag=expires)
                ((count,),) = store._sql(_COUNT).fetchall()
                excess = count - max_size
                if excess <= 0:
                    return []
                rows = store._sql(
                    "SELECT rowid, key, filename FROM Cache ORDER BY store_time, rowid LIMIT ?",
                    (excess,),
                ).fetchall()
                _delete_rows(store, rows)
            return [row[1] for row in rows if isinstance(row[1], str)]

        evicted: list[str] = self._run(write)
        return evicted

    def delete(self, key: str) -> bool:
        return bool(self._run(lambda store: store.delete(key)))

    def _delete_where(self, condition: str, parameters: tuple[Any, ...], keep: Any) -> list[str]:
        """Delete the rows matching ``condition`` whose key ``keep`` accepts; return their keys."""

        def delete(store: Any) -> list[str]:
            with store.transact():
                rows = store._sql(
                    f"SELECT rowid, key, filename FROM Cache WHERE {condition}", parameters
                ).fetchall()
                if keep is not None:
                    chosen = keep([row[1] for row in rows if isinstance(row[1], str)])
                    rows = [row for row in rows if row[1] in chosen]
                _delete_rows(store, rows)
            return [row[1] for row in rows]

        removed: list[str] = self._run(delete)
        return removed

    def delete_matching(self, pattern: str) -> list[str]:
        # The index narrows to the pattern's literal prefix; matching_keys then
        # decides, so the disk removes exactly what the memory level removes.
        prefix = glob_prefix(pattern)
        keep = lambda keys: matching_keys(pattern, keys)  # noqa: E731 - a one-line filter
        if not prefix or ord(prefix[-1]) >= 0x10FFFF:
            return self._delete_where("raw = 1", (), keep)
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return self._delete_where("raw = 1 AND key >= ? AND key < ?", (prefix, upper), keep)

    def clear_expired(self, now: float) -> list[str]:
        return self._delete_where("tag IS NOT NULL AND tag <= ?", (now,), None)

    def clear(self) -> int:
        def clear(store: Any) -> int:
            with store.transact():
                ((count,),) = store._sql(_COUNT).fetchall()
                files = store._sql(
                    "SELECT filename FROM Cache WHERE filename IS NOT NULL"
                ).fetchall()
                store._sql("DELETE FROM Cache")
            for (name,) in files:
                store.disk.remove(name)
            return int(count)

        removed: int = self._run(clear)
        return removed

    def size(self) -> int:
        count: int = self._run(lambda store: store._sql(_COUNT).fetchall()[0][0])
        return int(count)

    def stats(self) -> dict[str, int]:
        rows = self._run(lambda store: store._sql("SELECT key, value FROM VictorStats").fetchall())
        return {str(key): int(value) for key, value in rows}

    def add_stats(self, hits: int, misses: int, evictions: int) -> None:
        def add(store: Any) -> None:
            with store.transact():
                for name, delta in (("hits", hits), ("misses", misses), ("evictions", evictions)):
                    if delta:
                        store._sql(
                            "INSERT INTO VictorStats (key, value) VALUES (?, ?)"
                            " ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                            (name, delta),
                        )

        self._run(add)

    def watch(self, callback: InvalidationCallback) -> None:
        """Nothing: other processes' L1 copies live until their TTL with the disk level."""

    def describe(self) -> dict[str, Any]:
        return {"directory": str(self.directory)}

    def release_thread(self) -> None:
        """Close the calling thread's connection (diskcache keeps one per thread)."""
        store = self._store
        if store is not None:
            with contextlib.suppress(Exception):  # closing a broken connection must not fail
                store.close()

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(Exception):  # see release_thread
                store.close()


def _delete_rows(store: Any, rows: list[Any]) -> None:
    # Caller holds a transaction. Rows are deleted by rowid in chunks;
    # file-backed rows (never written by us) also lose their file.
    sql = store._sql
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        ids = ",".join(str(int(row[0])) for row in chunk)
        sql(f"DELETE FROM Cache WHERE rowid IN ({ids})")
    for row in rows:
        if row[2] is not None:
            store.disk.remove(row[2])
