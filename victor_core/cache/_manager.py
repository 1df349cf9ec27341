"""The three caches of the agent loop, built from :class:`~victor_core.settings.Settings`.

=================  =========================================  ===================
cache type         key                                        value
=================  =========================================  ===================
``tool_selection`` :func:`tool_selection_key` (query, context,  list of tool names
                   RL namespaces; case and space folded)
``response``       :func:`response_key` (provider, model,        response text/JSON
                   messages, parameters; canonical + sha256)
``embedding``      :func:`embedding_key` (model, text)           :func:`encode_vector`
=================  =========================================  ===================

Each is a :class:`~victor_core.cache.TieredCache` whose shared level is the
disk store in ``cache_dir/<type>/`` (``cache_backend = "disk"``) or the level a
backend plugin returns from ``victor_cache_backend`` (``"redis"``: the bundled
``victor-redis``), opened the first time it is used.
``<type>_cache_enabled=False`` turns a cache off: :meth:`CacheManager.get`
then returns ``None``.

Expired entries are swept in one place: the manager's sweeper thread
(``cache_auto_invalidate``, every ``cache_auto_invalidate_interval`` seconds),
beside the lazy expiry of every lookup and ``clear_expired_cache()`` on demand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from victor_core.cache._tiered import TieredCache, check_fraction

# The key builders live in victor_core.cache.keys; they are re-exported here
# for the modules that import them from the manager.
from victor_core.cache.keys import (
    NAMESPACES,
    decode_vector,
    embedding_key,
    encode_vector,
    response_key,
    tool_selection_key,
)
from victor_core.exceptions import CacheError

if TYPE_CHECKING:
    from victor_core.cache._level import LevelFactory
    from victor_core.metrics._registry import MetricsRegistry
    from victor_core.settings import Settings

#: Asks the backend plugins for the level factory of a backend name (the
#: ``victor_cache_backend`` hook, called with keywords ``name`` and ``settings``).
FindBackend = Callable[..., "LevelFactory | None"]

#: The backend built into victor-core.
BUILTIN_BACKEND = "disk"

__all__ = [
    "CACHE_TYPES",
    "NAMESPACES",
    "CacheManager",
    "decode_vector",
    "embedding_key",
    "encode_vector",
    "response_key",
    "tool_selection_key",
]

#: The cache types, in the order statistics list them.
CACHE_TYPES = ("tool_selection", "response", "embedding")


def known_backends() -> list[str]:
    """The backend names this installation knows: ``"disk"``, then the plugins' entry points."""
    names = [BUILTIN_BACKEND]
    from importlib.metadata import entry_points

    for entry in entry_points(group="victor_core.backends"):
        names.append(entry.name)
    return names


def _check_type(cache_type: Any) -> str:
    if cache_type not in CACHE_TYPES:
        raise CacheError(
            f"unknown cache type {cache_type!r}; accepted: "
            + ", ".join(repr(t) for t in CACHE_TYPES),
            cache=str(cache_type),
        )
    return str(cache_type)


# -- the manager ------------------------------------------------------------------------


class CacheManager:
    """Builds and owns the tool-selection, response and embedding caches.

    Args:
        settings: sizes, TTLs, switches and ``cache_dir`` are read from it; a
            cache reads them when it opens.
        metrics: a :class:`~victor_core.metrics.MetricsRegistry` (or anything with
            ``create_counter(name, description).increment()``); when given, every
            lookup increments ``victor_cache_<type>_hits_total`` or ``..._misses_total``.
        clock: time source of the caches (default :func:`time.time`).
        find_backend: the ``victor_cache_backend`` hook caller, asked once for the
            level factory when ``cache_backend`` is not ``"disk"`` (default: the
            hook of a plugin manager built from ``settings``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: MetricsRegistry | None = None,
        clock: Callable[[], float] | None = None,
        find_backend: FindBackend | None = None,
    ) -> None:
        self.settings = settings
        self._metrics = metrics
        self._clock = clock
        self._find_backend = find_backend
        self._factory: LevelFactory | None = None
        self._caches: dict[str, TieredCache] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<CacheManager open={sorted(self._caches)}>"

    def enabled(self, cache_type: str) -> bool:
        """Whether ``cache_type`` is switched on in the settings.

        Raises:
            CacheError: unknown cache type.
        """
        return bool(getattr(self.settings, f"{_check_type(cache_type)}_cache_enabled"))

    def namespace_enabled(self, namespace: str) -> bool:
        """Whether the tool-selection ``namespace`` is cached (``tool_selection_cache_<ns>``)."""
        setting = NAMESPACES.get(namespace)
        return setting is not None and bool(getattr(self.settings, setting))

    def get(self, cache_type: str) -> TieredCache | None:
        """The cache of ``cache_type``, opened on first use; ``None`` when it is disabled.

        Raises:
            CacheError: unknown cache type.
        """
        if not self.enabled(cache_type):
            return None
        cache = self._caches.get(cache_type)
        if cache is None:
            with self._lock:
                cache = self._caches.get(cache_type)
                if cache is None:
                    cache = self._caches[cache_type] = self._build(cache_type)
                    self._start_sweeper()
        return cache

    def level_factory(self) -> LevelFactory | None:
        """The factory of shared levels for ``cache_backend`` (None: the built-in disk level).

        Raises:
            CacheError: no installed backend answers to the name.
        """
        name = self.settings.cache_backend
        if name == BUILTIN_BACKEND:
            return None
        if self._factory is None:
            find = self._find_backend
            if find is None:
                from victor_core.plugins import PluginManager

                find = PluginManager(self.settings).hook.victor_cache_backend
            factory = find(name=name, settings=self.settings)
            if factory is None:
                raise CacheError(
                    f"cache_backend {name!r} is not provided by any installed plugin;"
                    f" known: {', '.join(repr(n) for n in known_backends())}"
                    " (install victor-redis for 'redis')"
                )
            self._factory = factory
        return self._factory

    def _build(self, cache_type: str) -> TieredCache:
        settings = self.settings
        factory = self.level_factory()
        return TieredCache(
            cache_type,
            directory=settings.cache_dir / cache_type if factory is None else None,
            level=None if factory is None else factory(cache_type),
            max_size=getattr(settings, f"{cache_type}_cache_size"),
            ttl=getattr(settings, f"{cache_type}_cache_ttl"),
            # Tool selections are keyed by natural-language queries: fold them.
            normalize=cache_type == "tool_selection",
            clock=self._clock,
            bypass=self._namespace_off if cache_type == "tool_selection" else None,
            on_lookup=self._counter(cache_type),
        )

    def _namespace_off(self, key: str) -> bool:
        namespace, sep, _ = key.partition(":")
        setting = NAMESPACES.get(namespace) if sep else None
        return setting is not None and not getattr(self.settings, setting)

    def _counter(self, cache_type: str) -> Any:
        registry = self._metrics
        if registry is None:
            return None
        hits = registry.create_counter(
            f"victor_cache_{cache_type}_hits_total", f"Hits of the {cache_type} cache."
        )
        misses = registry.create_counter(
            f"victor_cache_{cache_type}_misses_total", f"Misses of the {cache_type} cache."
        )

        def count(hit: bool) -> None:
            (hits if hit else misses).increment()

        return count

    # -- operations over caches -------------------------------------------------------

    def _selected(self, cache_type: str | None) -> list[TieredCache]:
        types = CACHE_TYPES if cache_type is None else (_check_type(cache_type),)
        return [c for c in (self.get(t) for t in types) if c is not None]

    def stats(self, cache_type: str | None = None) -> dict[str, Any]:
        """Statistics of one cache, or of all three combined plus ``"by_type"``.

        A disabled cache reports zeros and ``"enabled": False``.

        Raises:
            CacheError: unknown cache type.
        """
        if cache_type is not None:
            return self._stats_of(_check_type(cache_type))
        by_type = {t: self._stats_of(t) for t in CACHE_TYPES}
        shared = [s["all_processes"] for s in by_type.values() if s.get("all_processes")]
        everyone = None
        if shared:
            all_hits = sum(s["hits"] for s in shared)
            all_misses = sum(s["misses"] for s in shared)
            all_total = all_hits + all_misses
            everyone = {
                "hits": all_hits,
                "misses": all_misses,
                "hit_rate": all_hits / all_total if all_total else 0.0,
                "miss_rate": all_misses / all_total if all_total else 0.0,
                "evictions": sum(s["evictions"] for s in shared),
            }
        hits = sum(s["hits"] for s in by_type.values())
        misses = sum(s["misses"] for s in by_type.values())
        total = hits + misses
        return {
            "hits": hits,
            "misses": misses,
            "hit_rate": hits / total if total else 0.0,
            "miss_rate": misses / total if total else 0.0,
            "current_size": sum(s["current_size"] for s in by_type.values()),
            "max_size": sum(s["max_size"] for s in by_type.values()),
            "evictions": sum(s["evictions"] for s in by_type.values()),
            "expired": sum(s["expired"] for s in by_type.values()),
            "all_processes": everyone,
            "by_type": by_type,
        }

    def _stats_of(self, cache_type: str) -> dict[str, Any]:
        cache = self.get(cache_type)
        if cache is None:
            return {
                "enabled": False,
                "hits": 0,
                "misses": 0,
                "hit_rate": 0.0,
                "miss_rate": 0.0,
                "current_size": 0,
                "max_size": 0,
                "evictions": 0,
                "expired": 0,
                "all_processes": None,
            }
        return {"enabled": True, **cache.stats()}

    def invalidate(self, cache_type: str, pattern: str) -> int:
        """Remove the entries of ``cache_type`` whose readable key matches the glob ``pattern``.

        Returns:
            How many entries went (0 when the cache is disabled).

        Raises:
            CacheError: unknown cache type or a pattern that is not a string.
        """
        cache = self.get(cache_type)
        if not isinstance(pattern, str):
            raise CacheError(
                f"pattern must be a glob string such as '*auth*' (got {pattern!r})",
                cache=cache_type,
            )
        return 0 if cache is None else cache.invalidate(pattern)

    def clear_expired(self) -> int:
        """Remove expired entries from every enabled cache; return how many went."""
        return sum(cache.clear_expired() for cache in self._selected(None))

    def clear(self, cache_type: str | None = None) -> int:
        """Empty one cache (or all); return how many entries went.

        Raises:
            CacheError: unknown cache type.
        """
        return sum(cache.clear() for cache in self._selected(cache_type))

    def shrink(self, fraction: float) -> int:
        """Drop ``fraction`` of the in-memory entries of the open caches (disk keeps them).

        Raises:
            CacheError: ``fraction`` is not between 0 and 1.
        """
        check_fraction(fraction)
        return sum(cache.shrink(fraction) for cache in list(self._caches.values()))

    def close(self) -> None:
        """Stop the expiry sweeper and close every open cache (idempotent)."""
        self._stop.set()
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None and sweeper is not threading.current_thread():
            sweeper.join(timeout=5)
        with self._lock:
            caches = list(self._caches.values())
            self._caches.clear()
        for cache in caches:
            cache.close()
        self._stop = threading.Event()

    # -- automatic invalidation ------------------------------------------------------

    def _start_sweeper(self) -> None:
        # Caller holds self._lock.
        if self._sweeper is not None or not self.settings.cache_auto_invalidate:
            return
        thread = threading.Thread(
            target=self._sweep_loop,
            args=(self._stop,),
            name="victor-cache-sweeper",
            daemon=True,
        )
        self._sweeper = thread
        thread.start()

    def _sweep_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.settings.cache_auto_invalidate_interval):
            for cache in list(self._caches.values()):
                try:
                    removed = cache.clear_expired()
                    cache.flush_stats()
                finally:
                    # Connections are per thread: release this one between sweeps.
                    cache.release_thread_connection()
                if removed:
                    from victor_core._log import get_logger

                    get_logger().debug("cache_expired_swept", cache=cache.name, removed=removed)
