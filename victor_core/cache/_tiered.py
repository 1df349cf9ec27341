"""TieredCache: an in-process LRU (L1) in front of a diskcache store (L2).

The two levels::

    get(key) ──► L1: OrderedDict + lock, per-entry expiry ──hit──► value
                  │ miss
                  ▼
                 L2: diskcache (SQLite) in ``directory``, shared by processes
                  │ hit: value promoted into L1
                  ▼ miss: default

``set`` writes through both levels. Each level holds at most ``max_size``
entries: L1 drops its least recently used entry, L2 its least recently stored
ones; ``evictions`` counts the entries removed for size.

Keys are human-readable strings (folded for case and whitespace when
``normalize`` is on) and are stored as they are, so :meth:`TieredCache.invalidate`
can match glob patterns against them with one indexed SQL statement.

Values are JSON or bytes, framed by one format byte. The disk level never
unpickles (see :mod:`victor_core.cache._disk`). When the cache directory is
missing, unwritable, corrupt or locked, the cache logs one warning and keeps
working from memory alone; ``get`` and ``set`` never raise because of the disk.

diskcache, sqlite3 and structlog are imported the first time the disk level
or the logger is needed, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import CacheError

if TYPE_CHECKING:
    import diskcache

__all__ = ["TieredCache", "UndecodableEntry", "fold_key"]

_MISSING: Any = object()
_INF = math.inf
_JSON = b"\x01"
_BYTES = b"\x02"

# The columns of diskcache's Cache table read on an L2 lookup; "tag" holds the
# expiry time by the cache's clock (diskcache's own expire_time uses time.time).
_SELECT = "SELECT tag, mode, filename, value FROM Cache WHERE key = ? AND raw = 1"

# States of the disk level.
_CLOSED = 0
_OPEN = 1
_FAILED = 2


class UndecodableEntry(ValueError):
    """A stored entry is not in victor-core's safe format (for example a pickle)."""


def fold_key(key: str) -> str:
    """Fold case and runs of whitespace: ``"  Find  FILES "`` -> ``"find files"``."""
    return " ".join(key.lower().split())


def _encode(value: Any) -> bytes:
    """Frame ``value`` for the disk level: JSON text or raw bytes behind a format byte."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _BYTES + bytes(value)
    import json

    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise CacheError(
            "cache values must be JSON-serialisable (dict, list, str, int, float, bool, None)"
            f" or bytes (got {type(value).__name__}: {exc})"
        ) from None
    return _JSON + text.encode("utf-8")


def _decode(blob: bytes) -> Any:
    """Inverse of :func:`_encode`; raises :class:`UndecodableEntry` on anything else."""
    head = blob[:1]
    if head == _BYTES:
        return blob[1:]
    if head == _JSON:
        import json

        try:
            return json.loads(blob[1:].decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            raise UndecodableEntry(f"invalid JSON entry: {exc}") from None
    raise UndecodableEntry(f"unknown entry format byte {head!r}")


def _glob_to_sqlite(pattern: str) -> str:
    # fnmatch negates a set with "[!...]", SQLite's GLOB with "[^...]".
    return pattern.replace("[!", "[^")


def _glob_filter(pattern: str, keys: Any) -> set[str]:
    """The keys matching the fnmatch-style ``pattern`` (case-sensitive).

    The common shapes - ``"*text*"``, ``"text*"``, ``"*text"``, ``"text"`` -
    use string methods, several times faster than a regular expression over
    tens of thousands of keys.
    """
    if "?" not in pattern and "[" not in pattern:
        parts = pattern.split("*")
        if len(parts) == 1:
            return {pattern} if pattern in keys else set()
        if len(parts) == 2:
            head, tail = parts
            if not head:
                return {k for k in keys if k.endswith(tail)}
            if not tail:
                return {k for k in keys if k.startswith(head)}
        if len(parts) == 3 and not parts[0] and not parts[2]:
            text = parts[1]
            return {k for k in keys if text in k}
    import fnmatch
    import re

    match = re.compile(fnmatch.translate(pattern)).match
    return {k for k in keys if match(k)}


def _rates(hits: int, misses: int) -> tuple[float, float]:
    total = hits + misses
    if not total:
        return 0.0, 0.0
    return hits / total, misses / total


def _make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by the owner only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is masked by the umask and ignored for an existing
    # directory; tighten our own directory explicitly.
    owner = getattr(os, "geteuid", None)
    if owner is None or path.stat().st_uid == owner():
        path.chmod(0o700)


def check_fraction(fraction: Any, *, cache: str | None = None) -> None:
    """Raise :class:`CacheError` unless ``fraction`` is a number from 0 to 1 (for ``shrink``)."""
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not (0.0 <= fraction <= 1.0)
    ):
        raise CacheError(
            f"fraction must be a number between 0 and 1 (got {fraction!r})", cache=cache
        )


class TieredCache:
    """A two-level cache: in-process LRU with TTL, then a diskcache store.

    Args:
        name: name shown in statistics and warnings (``"tool_selection"``).
        directory: directory of the disk level (created owner-only, 0700);
            ``None`` keeps the cache in memory only.
        max_size: most entries in each level.
        ttl: default seconds an entry lives (``None``: until evicted).
        normalize: fold case and whitespace of keys and patterns.
        clock: returns the current time in seconds (default :func:`time.time`;
            the disk level is shared by processes, so it must be wall-clock time).
        timeout: seconds to wait for a busy database before giving up.
        bypass: predicate on the (folded) key; keys it accepts are never cached.
        on_lookup: called with ``True`` (hit) or ``False`` (miss) after each lookup.

    Raises:
        CacheError: an argument is out of range.
    """

    def __init__(
        self,
        name: str,
        *,
        directory: str | os.PathLike[str] | None = None,
        max_size: int = 1000,
        ttl: float | None = None,
        normalize: bool = False,
        clock: Callable[[], float] | None = None,
        timeout: float = 2.0,
        bypass: Callable[[str], bool] | None = None,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise CacheError(f"cache name must be a non-empty string (got {name!r})")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise CacheError(
                f"max_size of cache {name!r} must be an int of at least 1 (got {max_size!r})",
                cache=name,
            )
        self._ttl = self._check_ttl(ttl, name)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise CacheError(
                f"timeout of cache {name!r} must be a positive number (got {timeout!r})",
                cache=name,
            )
        self.name = name
        self.directory = None if directory is None else Path(directory).expanduser()
        self.max_size = max_size
        self.normalize = bool(normalize)
        self._clock = clock or time.time
        self._timeout = float(timeout)
        self._bypass = bypass
        self._on_lookup = on_lookup

        self._lock = threading.Lock()
        self._l1: OrderedDict[str, tuple[Any, float]] = OrderedDict()
        self._open_lock = threading.Lock()
        self._store: diskcache.Cache | None = None
        self._state = _CLOSED if directory is not None else _FAILED
        self._warned = False

        # Combined hits are l1 + l2 hits; misses are counted once per lookup.
        self._misses = 0
        self._l1_hits = 0
        self._l1_misses = 0
        self._l1_evictions = 0
        self._l2_hits = 0
        self._l2_misses = 0
        self._l2_evictions = 0
        self._expired = 0
        # hits, misses, evictions already added to the store's shared totals.
        self._flushed = (0, 0, 0)

    def __repr__(self) -> str:
        return f"<TieredCache {self.name!r} directory={str(self.directory)!r}>"

    def __enter__(self) -> TieredCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _check_ttl(ttl: Any, name: str) -> float | None:
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise CacheError(
                f"ttl of cache {name!r} must be a positive number of seconds or None (got {ttl!r})",
                cache=name,
            )
        return float(ttl)

    def _key(self, key: Any) -> str:
        if type(key) is not str:
            raise CacheError(
                f"keys of cache {self.name!r} must be str (got {type(key).__name__})",
                cache=self.name,
            )
        return fold_key(key) if self.normalize else key

    # -- reading and writing -----------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value cached under ``key``, or ``default``.

        Args:
            key: the human-readable key.
            default: returned on a miss.

        Raises:
            CacheError: ``key`` is not a string.
        """
        if type(key) is not str:
            self._key(key)
        now = self._clock()
        expired_in_l1 = False
        with self._lock:
            entry = self._l1.get(key)
            if entry is None and self.normalize:
                # Keys are stored folded, so a key found as given is already
                # folded (the usual case: built by a key helper); fold otherwise.
                key = " ".join(key.lower().split())
                entry = self._l1.get(key)
            if self._bypass is not None and self._bypass(key):
                return default
            if entry is not None:
                if entry[1] > now:
                    self._l1.move_to_end(key)
                    self._l1_hits += 1
                else:
                    # Counted as expired below, once, by the level that decides.
                    del self._l1[key]
                    expired_in_l1 = True
                    entry = None
            if entry is None:
                self._l1_misses += 1
        if entry is not None:
            if self._on_lookup is not None:
                self._on_lookup(True)
            return entry[0]
        value = self._l2_get(key, now, expired_in_l1)
        hit = value is not _MISSING
        if self._on_lookup is not None:
            self._on_lookup(hit)
        return value if hit else default

    def _l2_get(self, key: str, now: float, expired_in_l1: bool = False) -> Any:
        store = self._open()
        if store is None:
            with self._lock:
                self._misses += 1
                self._expired += expired_in_l1
            return _MISSING
        try:
            # One indexed SELECT; diskcache's get() adds little but overhead here.
            rows = store._sql(_SELECT, (key,)).fetchall()
            if rows:
                ((expires, mode, filename, stored),) = rows
                if expires is not None and type(expires) not in (float, int):
                    raise UndecodableEntry(f"expiry time is {type(expires).__name__}")
                blob = store.disk.fetch(mode, filename, stored, False)
                value = _decode(blob)
            else:
                blob = expires = _MISSING
        except UndecodableEntry as exc:
            self._refuse(store, key, exc)
            return _MISSING
        except Exception as exc:
            self._fail(exc)
            with self._lock:
                self._misses += 1
            return _MISSING
        if blob is _MISSING or (expires is not None and expires <= now):  # type: ignore[operator]
            with self._lock:
                self._l2_misses += 1
                self._misses += 1
                if blob is not _MISSING:
                    self._expired += 1
            return _MISSING
        with self._lock:
            self._l2_hits += 1
            self._l1_put(key, value, _INF if expires is None else float(expires))
        return value

    def _refuse(self, store: Any, key: str, exc: Exception) -> None:
        """Count a refused (unsafe or corrupt) entry as a miss, warn, and drop it."""
        with self._lock:
            self._l2_misses += 1
            self._misses += 1
        from victor_core._log import get_logger

        get_logger().warning("cache_entry_refused", cache=self.name, key=key, error=str(exc))
        try:
            store.delete(key)
        except Exception as exc2:
            self._fail(exc2)

    def _l1_put(self, key: str, value: Any, expires: float) -> None:
        # Caller holds self._lock.
        l1 = self._l1
        l1[key] = (value, expires)
        l1.move_to_end(key)
        while len(l1) > self.max_size:
            l1.popitem(last=False)
            self._l1_evictions += 1

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` in both levels.

        Args:
            key: the human-readable key.
            value: anything JSON can hold, or bytes.
            ttl: seconds this entry lives (default: the cache's ``ttl``).

        Raises:
            CacheError: ``key`` is not a string, ``ttl`` is not positive, or the
                value is neither JSON-serialisable nor bytes.
        """
        key = self._key(key)
        if self._bypass is not None and self._bypass(key):
            return
        ttl = self._ttl if ttl is None else self._check_ttl(ttl, self.name)
        blob = _encode(value)
        if isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        expires = None if ttl is None else self._clock() + ttl
        with self._lock:
            self._l1_put(key, value, _INF if expires is None else expires)
        store = self._open()
        if store is None:
            return
        try:
            evicted = self._l2_set(store, [(key, value, blob)], expires)
        except Exception as exc:
            self._fail(exc)
            return
        self._forget_evicted(evicted)

    def set_many(self, items: Any, ttl: float | None = None) -> None:
        """Store several entries with one disk transaction (much faster than ``set`` each).

        Args:
            items: a mapping, or an iterable of ``(key, value)`` pairs.
            ttl: seconds these entries live (default: the cache's ``ttl``).

        Raises:
            CacheError: as :meth:`set`, before anything is stored.
        """
        pairs = items.items() if hasattr(items, "items") else items
        ttl = self._ttl if ttl is None else self._check_ttl(ttl, self.name)
        batch: list[tuple[str, Any, bytes]] = []
        for raw_key, raw_value in pairs:
            key = self._key(raw_key)
            if self._bypass is not None and self._bypass(key):
                continue
            value = raw_value
            if isinstance(value, (bytearray, memoryview)):
                value = bytes(value)
            batch.append((key, value, _encode(value)))
        if not batch:
            return
        expires = None if ttl is None else self._clock() + ttl
        l1_expires = _INF if expires is None else expires
        with self._lock:
            for key, value, _ in batch:
                self._l1_put(key, value, l1_expires)
        store = self._open()
        if store is None:
            return
        try:
            evicted = self._l2_set(store, batch, expires)
        except Exception as exc:
            self._fail(exc)
            return
        self._forget_evicted(evicted)

    def _forget_evicted(self, evicted: list[str]) -> None:
        if evicted:
            with self._lock:
                self._l2_evictions += len(evicted)
                for old in evicted:
                    self._l1.pop(old, None)

    def _l2_set(self, store: Any, batch: list[Any], expires: float | None) -> list[str]:
        """Write entries and trim the store to ``max_size``, in one transaction."""
        with store.transact():
            for key, _, blob in batch:
                store.set(key, blob, tag=expires)
            sql = store._sql  # diskcache has no public API for these two queries
            ((count,),) = sql('SELECT value FROM Settings WHERE key = "count"').fetchall()
            excess = count - self.max_size
            if excess <= 0:
                return []
            rows = sql(
                "SELECT rowid, key, filename FROM Cache ORDER BY store_time, rowid LIMIT ?",
                (excess,),
            ).fetchall()
            self._delete_rows(store, rows)
        return [row[1] for row in rows if isinstance(row[1], str)]

    def _l2_delete_where(self, condition: str, parameter: Any) -> list[Any]:
        """Delete the stored rows matching ``condition``; return their keys (none if L2 is off)."""
        store = self._open()
        if store is None:
            return []
        try:
            with store.transact():
                rows = store._sql(
                    f"SELECT rowid, key, filename FROM Cache WHERE {condition}", (parameter,)
                ).fetchall()
                self._delete_rows(store, rows)
        except Exception as exc:
            self._fail(exc)
            return []
        return [row[1] for row in rows]

    @staticmethod
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

    def delete(self, key: str) -> bool:
        """Remove ``key`` from both levels; return whether it was cached."""
        key = self._key(key)
        with self._lock:
            found = self._l1.pop(key, None) is not None
        store = self._open()
        if store is not None:
            try:
                found = bool(store.delete(key)) or found
            except Exception as exc:
                self._fail(exc)
        return found

    # -- maintenance ------------------------------------------------------------------

    def invalidate(self, pattern: str) -> int:
        """Remove every entry whose key matches the glob ``pattern``.

        The pattern uses :mod:`fnmatch` syntax (``*``, ``?``, ``[seq]``,
        ``[!seq]``), is case-sensitive, and is folded like the keys when the
        cache normalises them.

        Returns:
            How many entries were removed.

        Raises:
            CacheError: ``pattern`` is not a string.
        """
        if not isinstance(pattern, str):
            raise CacheError(
                f"pattern for cache {self.name!r} must be a glob string (got {pattern!r})",
                cache=self.name,
            )
        if self.normalize:
            pattern = fold_key(pattern)
        with self._lock:
            gone = _glob_filter(pattern, self._l1)
            for key in gone:
                del self._l1[key]
        gone.update(self._l2_delete_where("raw = 1 AND key GLOB ?", _glob_to_sqlite(pattern)))
        return len(gone)

    def clear_expired(self) -> int:
        """Remove every expired entry from both levels; return how many went."""
        now = self._clock()
        with self._lock:
            gone = {key for key, (_, expires) in self._l1.items() if expires <= now}
            for key in gone:
                del self._l1[key]
        gone.update(self._l2_delete_where("tag IS NOT NULL AND tag <= ?", now))
        with self._lock:
            self._expired += len(gone)
        return len(gone)

    def clear(self) -> int:
        """Remove every entry from both levels; return how many there were."""
        with self._lock:
            removed = len(self._l1)
            self._l1.clear()
        store = self._open()
        if store is not None:
            try:
                with store.transact():
                    ((count,),) = store._sql(
                        'SELECT value FROM Settings WHERE key = "count"'
                    ).fetchall()
                    files = store._sql(
                        "SELECT filename FROM Cache WHERE filename IS NOT NULL"
                    ).fetchall()
                    store._sql("DELETE FROM Cache")
                for (name,) in files:
                    store.disk.remove(name)
                removed = max(removed, int(count))
            except Exception as exc:
                self._fail(exc)
        return removed

    def shrink(self, fraction: float) -> int:
        """Drop the least recently used ``fraction`` of the L1 entries (memory shedding).

        The disk level keeps them. Returns how many entries left memory.

        Raises:
            CacheError: ``fraction`` is not between 0 and 1.
        """
        check_fraction(fraction, cache=self.name)
        with self._lock:
            count = math.ceil(len(self._l1) * fraction)
            for _ in range(count):
                self._l1.popitem(last=False)
        return count

    def stats(self) -> dict[str, Any]:
        """Counters of this cache, combined and per level.

        Returns:
            ``hits``, ``misses``, ``hit_rate``, ``miss_rate``, ``current_size``,
            ``max_size``, ``evictions``, ``expired`` (lookups that found an entry
            expired, plus entries removed by :meth:`clear_expired`), and the same counters per
            level under ``"l1"`` and ``"l2"`` (``l2`` also says whether the disk
            level is ``available``). Hits and misses count this process's
            lookups; ``current_size`` of the disk level counts every process's
            entries.
        """
        store = self._open()
        l2_size = 0
        shared: dict[str, int] = {}
        if store is not None:
            try:
                ((l2_size,),) = store._sql(
                    'SELECT value FROM Settings WHERE key = "count"'
                ).fetchall()
                shared = dict(store._sql("SELECT key, value FROM VictorStats").fetchall())
            except Exception as exc:
                self._fail(exc)
                store = None
        with self._lock:
            l1_size = len(self._l1)
            l1 = self._level(self._l1_hits, self._l1_misses, l1_size, self._l1_evictions)
            l2 = self._level(self._l2_hits, self._l2_misses, int(l2_size), self._l2_evictions)
            l2["available"] = store is not None
            l2["directory"] = None if self.directory is None else str(self.directory)
            combined = self._level(
                self._l1_hits + self._l2_hits,
                self._misses,
                int(l2_size) if store is not None else l1_size,
                self._l2_evictions + (0 if store is not None else self._l1_evictions),
            )
            combined["expired"] = self._expired
            pending = self._pending()
        everyone = None
        if store is not None:
            hits = shared.get("hits", 0) + pending[0]
            misses = shared.get("misses", 0) + pending[1]
            everyone = self._level(hits, misses, int(l2_size), shared.get("evictions", 0))
            everyone["evictions"] += pending[2]
        combined["l1"] = l1
        combined["l2"] = l2
        combined["all_processes"] = everyone
        return combined

    def _pending(self) -> tuple[int, int, int]:
        # Caller holds self._lock.
        done = self._flushed
        hits = self._l1_hits + self._l2_hits
        return (hits - done[0], self._misses - done[1], self._l2_evictions - done[2])

    def flush_stats(self) -> None:
        """Add this process's new hits, misses and evictions to the store's shared totals.

        :meth:`close` calls it; the totals appear in ``stats()["all_processes"]``
        of every process, and in ``victor cache stats``.
        """
        if self._store is None:
            return
        with self._lock:
            pending = self._pending()
            current = (self._l1_hits + self._l2_hits, self._misses, self._l2_evictions)
        if not any(pending):
            return
        store = self._store
        if store is None:
            return
        try:
            with store.transact():
                for name, delta in zip(("hits", "misses", "evictions"), pending, strict=True):
                    if delta:
                        store._sql(
                            "INSERT INTO VictorStats (key, value) VALUES (?, ?)"
                            " ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                            (name, delta),
                        )
        except Exception as exc:
            self._fail(exc)
            return
        with self._lock:
            self._flushed = current

    def _level(self, hits: int, misses: int, size: int, evictions: int) -> dict[str, Any]:
        hit_rate, miss_rate = _rates(hits, misses)
        return {
            "hits": hits,
            "misses": misses,
            "hit_rate": hit_rate,
            "miss_rate": miss_rate,
            "current_size": size,
            "max_size": self.max_size,
            "evictions": evictions,
        }

    def close(self) -> None:
        """Drop the L1 entries and close the disk connection.

        Using the cache afterwards reopens the disk level.
        """
        self.flush_stats()
        with self._lock:
            self._l1.clear()
        with self._open_lock:
            store, self._store = self._store, None
            if self._state == _OPEN:
                self._state = _CLOSED
        if store is not None:
            # Closing a broken connection must not fail the caller.
            with contextlib.suppress(Exception):
                store.close()

    def release_thread_connection(self) -> None:
        """Close the disk connection of the calling thread (worker threads call this)."""
        store = self._store
        if store is not None:
            with contextlib.suppress(Exception):  # see close()
                store.close()

    # -- the disk level -------------------------------------------------------------

    def _open(self) -> Any:
        """The diskcache store, opened on first use; ``None`` when unavailable."""
        store = self._store
        if store is not None or self._state == _FAILED:
            return store
        with self._open_lock:
            if self._store is not None or self._state == _FAILED:
                return self._store
            directory = self.directory
            if directory is None:  # pragma: no cover - state is _FAILED then
                return None
            try:
                _make_private_dir(directory)
                from victor_core.cache._disk import open_store

                self._store = open_store(str(directory), timeout=self._timeout)
                self._state = _OPEN
            except Exception as exc:
                self._state = _FAILED
                self._warn_unavailable(exc)
            return self._store

    def _fail(self, exc: BaseException) -> None:
        """Give up the disk level after an error; the cache continues in memory."""
        with self._open_lock:
            store, self._store = self._store, None
            self._state = _FAILED
        if store is not None:
            with contextlib.suppress(Exception):  # see close()
                store.close()
        self._warn_unavailable(exc)

    def _warn_unavailable(self, exc: BaseException) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        from victor_core._log import get_logger

        get_logger().warning(
            "cache_disk_unavailable",
            cache=self.name,
            directory=str(self.directory),
            error=f"{type(exc).__name__}: {exc}",
            fallback="memory only",
        )
