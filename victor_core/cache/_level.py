"""The shared level (L2) of a :class:`~victor_core.cache.TieredCache`, as a protocol.

A level stores framed values - one format byte, then JSON text or raw bytes,
never a pickle - under readable string keys, with an absolute expiry time by
the cache's clock. The cache does everything else: the in-process L1, value
encoding, TTL defaults, hit and miss counting, and the "degrade to misses
with one warning" policy. The built-in level is the diskcache store
(:class:`victor_core.cache._disk.DiskLevel`); the ``victor-redis`` plugin adds
a Redis level; a third party adds another through the ``victor_cache_backend``
hook, which returns a :data:`LevelFactory`.

Errors: a level raises :class:`~victor_core.cache.UndecodableEntry` from
:meth:`CacheLevel.get` for an entry it refuses to decode (the cache deletes it
and counts a miss); any other exception means "unavailable right now". The
cache then answers from memory, logs one warning, and tries the level again
after :attr:`CacheLevel.retry_after` seconds (never, when it is None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

# Defined in the one exception tree; cache levels (and plugins providing one) import it here.
from victor_core.exceptions import UndecodableEntry

__all__ = ["CacheLevel", "InvalidationCallback", "LevelFactory", "UndecodableEntry"]


#: Called with the keys another process removed or overwrote (None: all of them).
InvalidationCallback = Callable[[list[str] | None], None]


class CacheLevel(Protocol):
    """What a :class:`~victor_core.cache.TieredCache` needs from its shared level.

    Every method may be called from several threads at once. Every call must
    return or raise within the level's own timeout: a level is on the
    request path of the agent.
    """

    #: Short name of the backend ("disk", "redis"), used in warnings and statistics.
    backend: str
    #: Seconds after a failure before the cache tries the level again (None: never).
    retry_after: float | None

    def get(self, key: str) -> tuple[bytes, float | None] | None:
        """The framed value and expiry time (None: never) stored under ``key``, or None."""
        ...

    def set_many(
        self,
        entries: Sequence[tuple[str, bytes]],
        expires: float | None,
        max_size: int,
        ttl: float | None = None,
    ) -> list[str]:
        """Store ``entries`` (key, framed value) expiring at ``expires``; keep at most ``max_size``.

        ``expires`` is by the cache's clock (None: never); ``ttl`` is the same
        moment as seconds from now, for a level whose own clock expires entries.

        Returns:
            The keys evicted to respect ``max_size`` (least recently stored first).
        """
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was stored."""
        ...

    def delete_matching(self, pattern: str) -> list[str]:
        """Remove the keys matching the glob ``pattern``.

        Matching is :func:`victor_core.cache.keys.matching_keys`, exactly.

        Returns:
            The keys removed, exactly.
        """
        ...

    def clear_expired(self, now: float) -> list[str]:
        """Remove the entries whose expiry time is at or before ``now``; return their keys."""
        ...

    def clear(self) -> int:
        """Remove every entry of this cache (and nothing of any other); return how many."""
        ...

    def size(self) -> int:
        """How many entries are stored (by every process)."""
        ...

    def stats(self) -> dict[str, int]:
        """Lookup totals of every process: ``hits``, ``misses``, ``evictions``."""
        ...

    def add_stats(self, hits: int, misses: int, evictions: int) -> None:
        """Add one process's new lookups to the shared totals of :meth:`stats`."""
        ...

    def watch(self, callback: InvalidationCallback) -> None:
        """Call ``callback`` when another process removes or overwrites keys.

        A level that cannot tell (the disk level) does nothing; the entries
        then stay in other processes' L1 until their TTL.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """What statistics show about the level (``{"directory": ...}``, ``{"url": ...}``)."""
        ...

    def close(self) -> None:
        """Release connections and threads; a later call reopens them."""
        ...


#: Builds the level of the cache called ``name`` ("tool_selection", "response", "embedding").
LevelFactory = Callable[[str], CacheLevel]
