"""TieredCache: an in-process LRU (L1) in front of a shared level (L2).

The two levels::

    get(key) ──► L1: OrderedDict + lock, per-entry expiry ──hit──► value
                  │ miss
                  ▼
                 L2: a CacheLevel - by default diskcache (SQLite) in
                  │  ``directory``, shared by processes; or Redis, shared by machines
                  │ hit: value promoted into L1
                  ▼ miss: default

``set`` writes through both levels. Each level holds at most ``max_size``
entries: L1 drops its least recently used entry, L2 its least recently stored
ones; ``evictions`` counts the entries removed for size.

Keys are human-readable strings (folded for case and whitespace when
``normalize`` is on) and are stored as they are, so :meth:`TieredCache.invalidate`
can match glob patterns against them (:func:`victor_core.cache.keys.matching_keys`,
the same semantics in every level).

Values are JSON or bytes, framed by one format byte; no level ever unpickles
(see :mod:`victor_core.cache._disk`). The shared level sits behind the small
protocol :class:`~victor_core.cache.CacheLevel` (``level=``). When it is
missing, unwritable, corrupt, locked or unreachable, the cache logs one
warning and keeps working from memory alone; ``get`` and ``set`` never raise
because of it.

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

from victor_core.cache._level import UndecodableEntry
from victor_core.cache._values import _check_sizes, _decode, _encode, _rates, check_fraction
from victor_core.cache.keys import fold_key, matching_keys
from victor_core.exceptions import CacheError

if TYPE_CHECKING:
    from victor_core.cache._level import CacheLevel

__all__ = ["TieredCache", "UndecodableEntry", "check_fraction", "fold_key"]

_MISSING: Any = object()
_INF = math.inf


class TieredCache:
    """A two-level cache: in-process LRU with TTL, then a shared level (diskcache by default).

    Args:
        name: name shown in statistics and warnings (``"tool_selection"``).
        directory: directory of the disk level (created owner-only, 0700);
            ``None`` (and no ``level``) keeps the cache in memory only.
        max_size: most entries in each level.
        ttl: default seconds an entry lives (``None``: until evicted).
        normalize: fold case and whitespace of keys and patterns.
        clock: returns the current time in seconds (default :func:`time.time`;
            the shared level is shared by processes, so it must be wall-clock time).
        timeout: seconds any open or statement of the disk level may wait on a busy database.
        bypass: predicate on the (folded) key; keys it accepts are never cached.
        on_lookup: called with ``True`` (hit) or ``False`` (miss) after each lookup.
        level: the shared level (a :class:`~victor_core.cache.CacheLevel`), instead
            of the disk level in ``directory``.

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
        level: CacheLevel | None = None,
    ) -> None:
        _check_sizes(name, max_size, timeout)
        self._ttl = self._check_ttl(ttl, name)
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
        self._level_lock = threading.Lock()
        self._level: CacheLevel | None = level
        self._watching = False
        # Monotonic time before which the level is not tried again (inf: never).
        self._down_until = 0.0 if (level is not None or directory is not None) else _INF
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
        # hits, misses, evictions already added to the level's shared totals.
        self._flushed = (0, 0, 0)

    def __repr__(self) -> str:
        where = self.directory if self._level is None else self._level
        return f"<TieredCache {self.name!r} level={str(where)!r}>"

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
        level = self._usable()
        if level is None:
            with self._lock:
                self._misses += 1
                self._expired += expired_in_l1
            return _MISSING
        try:
            row = level.get(key)
            value = _MISSING if row is None else _decode(row[0])
        except UndecodableEntry as exc:
            self._refuse(level, key, exc)
            return _MISSING
        except Exception as exc:
            self._fail(exc)
            with self._lock:
                self._misses += 1
            return _MISSING
        self._recovered()
        expires = None if row is None else row[1]
        if row is None or (expires is not None and expires <= now):
            with self._lock:
                self._l2_misses += 1
                self._misses += 1
                if row is not None:
                    self._expired += 1
            return _MISSING
        with self._lock:
            self._l2_hits += 1
            self._l1_put(key, value, _INF if expires is None else float(expires))
        return value

    def _refuse(self, level: CacheLevel, key: str, exc: Exception) -> None:
        """Count a refused (unsafe or corrupt) entry as a miss, warn, and drop it."""
        with self._lock:
            self._l2_misses += 1
            self._misses += 1
        from victor_core._log import get_logger

        get_logger().warning("cache_entry_refused", cache=self.name, key=key, error=str(exc))
        try:
            level.delete(key)
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
        self.set_many(((key, value),), ttl)

    def set_many(self, items: Any, ttl: float | None = None) -> None:
        """Store several entries with one write to the shared level (much faster than ``set`` each).

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
        level = self._usable()
        if level is None:
            return
        try:
            entries = [(key, blob) for key, _, blob in batch]
            evicted = level.set_many(entries, expires, self.max_size, ttl)
        except Exception as exc:
            self._fail(exc)
            return
        self._recovered()
        if evicted:
            with self._lock:
                self._l2_evictions += len(evicted)
                for old in evicted:
                    self._l1.pop(old, None)

    def delete(self, key: str) -> bool:
        """Remove ``key`` from both levels; return whether it was cached."""
        key = self._key(key)
        with self._lock:
            found = self._l1.pop(key, None) is not None
        level = self._usable()
        if level is not None:
            try:
                found = level.delete(key) or found
            except Exception as exc:
                self._fail(exc)
        return found

    # -- maintenance ------------------------------------------------------------------

    def _l2_call(self, operation: Callable[[CacheLevel], list[str]]) -> list[str]:
        level = self._usable()
        if level is None:
            return []
        try:
            keys = operation(level)
        except Exception as exc:
            self._fail(exc)
            return []
        self._recovered()
        return keys

    def invalidate(self, pattern: str) -> int:
        """Remove every entry whose key matches the glob ``pattern``.

        The pattern uses :mod:`fnmatch` syntax (``*``, ``?``, ``[seq]``,
        ``[!seq]``; a ``[`` without its ``]`` is a literal ``[``), is
        case-sensitive, and is folded like the keys when the cache normalises
        them. Both levels match it the same way.

        Returns:
            How many distinct keys were removed (from either level).

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
            gone = matching_keys(pattern, self._l1)
            for key in gone:
                del self._l1[key]
        gone.update(self._l2_call(lambda level: level.delete_matching(pattern)))
        return len(gone)

    def clear_expired(self) -> int:
        """Remove every expired entry from both levels; return how many went."""
        now = self._clock()
        with self._lock:
            gone = {key for key, (_, expires) in self._l1.items() if expires <= now}
            for key in gone:
                del self._l1[key]
        gone.update(self._l2_call(lambda level: level.clear_expired(now)))
        with self._lock:
            self._expired += len(gone)
        return len(gone)

    def clear(self) -> int:
        """Remove every entry of this cache from both levels; return how many there were."""
        with self._lock:
            removed = len(self._l1)
            self._l1.clear()
        level = self._usable()
        if level is not None:
            try:
                removed = max(removed, level.clear())
            except Exception as exc:
                self._fail(exc)
            else:
                self._recovered()
        return removed

    def shrink(self, fraction: float) -> int:
        """Drop the least recently used ``fraction`` of the L1 entries (memory shedding).

        The shared level keeps them. Returns how many entries left memory.

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
            level under ``"l1"`` and ``"l2"`` (``l2`` also says whether the shared
            level is ``available``, its ``backend`` and where it is). Hits and
            misses count this process's lookups; ``current_size`` of the shared
            level counts every process's entries, and ``all_processes`` the
            lookups of every process (None without a shared level).
        """
        level, l2_size, shared = self._shared_figures()
        with self._lock:
            l1_size = len(self._l1)
            l1 = self._figures(self._l1_hits, self._l1_misses, l1_size, self._l1_evictions)
            l2 = self._figures(self._l2_hits, self._l2_misses, l2_size, self._l2_evictions)
            l2["available"] = level is not None
            combined = self._figures(
                self._l1_hits + self._l2_hits,
                self._misses,
                l2_size if level is not None else l1_size,
                self._l2_evictions + (0 if level is not None else self._l1_evictions),
            )
            combined["expired"] = self._expired
            pending = self._pending()
        where = self._level
        l2["backend"] = where.backend if where is not None else ("disk" if self.directory else None)
        l2["directory"] = None if self.directory is None else str(self.directory)
        if where is not None:
            l2.update(where.describe())
        everyone = None
        if level is not None:
            hits = shared.get("hits", 0) + pending[0]
            misses = shared.get("misses", 0) + pending[1]
            everyone = self._figures(hits, misses, l2_size, shared.get("evictions", 0))
            everyone["evictions"] += pending[2]
        combined["l1"] = l1
        combined["l2"] = l2
        combined["all_processes"] = everyone
        return combined

    def _shared_figures(self) -> tuple[CacheLevel | None, int, dict[str, int]]:
        """The shared level (None: unusable), its size and its all-process counters."""
        level = self._usable()
        if level is None:
            return None, 0, {}
        try:
            return level, level.size(), level.stats()
        except Exception as exc:
            self._fail(exc)
            return None, 0, {}

    def _pending(self) -> tuple[int, int, int]:
        # Caller holds self._lock.
        done = self._flushed
        hits = self._l1_hits + self._l2_hits
        return (hits - done[0], self._misses - done[1], self._l2_evictions - done[2])

    def flush_stats(self) -> None:
        """Add this process's new hits, misses and evictions to the level's shared totals.

        :meth:`close` and the expiry sweeper call it; the totals appear in
        ``stats()["all_processes"]`` of every process, and in ``victor cache stats``.
        """
        if self._level is None or self._down_until:
            return
        with self._lock:
            pending = self._pending()
            current = (self._l1_hits + self._l2_hits, self._misses, self._l2_evictions)
        if not any(pending):
            return
        try:
            self._level.add_stats(*pending)
        except Exception as exc:
            self._fail(exc)
            return
        with self._lock:
            self._flushed = current

    def _figures(self, hits: int, misses: int, size: int, evictions: int) -> dict[str, Any]:
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
        """Drop the L1 entries and close the shared level's connections.

        Using the cache afterwards reopens the shared level.
        """
        self.flush_stats()
        with self._lock:
            self._l1.clear()
        level = self._level
        with self._level_lock:
            self._watching = False
        if level is not None:
            # Closing a broken connection must not fail the caller.
            with contextlib.suppress(Exception):
                level.close()

    def release_thread_connection(self) -> None:
        """Close the shared level's connection of the calling thread (worker threads call this)."""
        release = getattr(self._level, "release_thread", None)
        if release is not None:
            with contextlib.suppress(Exception):  # see close()
                release()

    # -- the shared level -------------------------------------------------------------

    def _usable(self) -> CacheLevel | None:
        """The shared level, built on first use; ``None`` while it is unavailable."""
        down = self._down_until
        if down and time.monotonic() < down:
            return None
        level = self._level
        if level is None or not self._watching:
            with self._level_lock:
                level = self._level
                if level is None:
                    if self.directory is None:  # pragma: no cover - _down_until is inf then
                        return None
                    from victor_core.cache._disk import DiskLevel

                    level = self._level = DiskLevel(self.directory, timeout=self._timeout)
                if not self._watching:
                    self._watching = True
                    try:
                        level.watch(self._dropped_elsewhere)
                    except Exception as exc:
                        self._watching = False
                        self._fail(exc)
                        return None
        return level

    def _dropped_elsewhere(self, keys: list[str] | None) -> None:
        """Another process removed or overwrote ``keys`` (None: everything): drop our copies."""
        with self._lock:
            if keys is None:
                self._l1.clear()
                return
            for key in keys:
                self._l1.pop(key, None)

    def _fail(self, exc: BaseException) -> None:
        """Stop using the shared level for a while (or for good); the cache continues in memory."""
        level = self._level
        retry = None if level is None else level.retry_after
        self._down_until = _INF if retry is None else time.monotonic() + retry
        with self._lock:
            if self._warned:
                return
            self._warned = True
        from victor_core._log import get_logger

        backend = "disk" if level is None else level.backend
        where: dict[str, Any] = {}
        if self.directory is not None:
            where["directory"] = str(self.directory)
        if level is not None:
            where.update(level.describe())
        get_logger().warning(
            f"cache_{backend}_unavailable",
            cache=self.name,
            error=f"{type(exc).__name__}: {exc}",
            fallback="memory only" if retry is None else f"memory only, retried every {retry:g} s",
            **where,
        )

    def _recovered(self) -> None:
        """The level answered again after an outage: say so once, and warn on the next one."""
        if not self._down_until:
            return
        self._down_until = 0.0
        with self._lock:
            self._warned = False
            # Entries removed elsewhere while we could not hear about it may be stale.
            self._l1.clear()
        from victor_core._log import get_logger

        level = self._level
        get_logger().info(
            "cache_level_recovered",
            cache=self.name,
            backend=None if level is None else level.backend,
        )
