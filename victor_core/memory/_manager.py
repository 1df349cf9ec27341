"""The memory manager: owns the backend and the two memories built on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import MemoryStoreError
from victor_core.memory._checks import _bad
from victor_core.memory._episodic import Episode, EpisodicMemory
from victor_core.memory._semantic import Fact, SemanticMemory

if TYPE_CHECKING:
    from victor_core.memory._backend import MemoryBackend
    from victor_core.memory._consolidation import FactEmbedder
    from victor_core.plugins import PluginManager
    from victor_core.settings import Settings


class MemoryManager:
    """Owns the memory backend and the two memories built on it.

    Args:
        plugin_manager: dispatches ``victor_memory_backend`` (the backend),
            ``victor_episode_stored`` and ``victor_consolidation_strategies``;
            may be None when ``backend`` is given.
        settings: enable flags, caps and ``data_dir``.
        clock: seconds since the epoch (timestamps and pruning ages).
        embedder: a :class:`~victor_core.memory._consolidation.FactEmbedder` that
            consolidation uses to find near-duplicate facts (the orchestrator gives
            :class:`~victor_core.selection.HashingEmbedder` without concept groups);
            None: consolidation merges no near-duplicates.
        backend: a ready backend, bypassing the hook (tests, embedding apps).

    The backend is obtained on first use, not at construction.
    """

    def __init__(
        self,
        plugin_manager: PluginManager | None,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        embedder: FactEmbedder | None = None,
        backend: MemoryBackend | None = None,
    ) -> None:
        if plugin_manager is None and backend is None:
            raise MemoryStoreError("MemoryManager needs a plugin_manager or a backend")
        self.plugin_manager = plugin_manager
        self.settings = settings
        self.clock = clock
        self.embedder = embedder
        self._backend = backend
        self._backend_lock: Any = None
        self._closed = False
        self._episodes: int | None = None
        self._facts: int | None = None
        self._last_consolidation: dict[str, Any] | None = None
        self._counters: dict[str, int] = {
            "episodes_recorded": 0,
            "episodes_evicted": 0,
            "episodes_pruned": 0,
            "facts_added": 0,
            "episode_searches": 0,
            "fact_searches": 0,
            "consolidations": 0,
            "observer_errors": 0,
        }
        self.episodic = EpisodicMemory(self)
        self.semantic = SemanticMemory(self)

    def __repr__(self) -> str:
        return f"<MemoryManager backend={self._backend!r} closed={self._closed}>"

    async def get_backend(self) -> MemoryBackend:
        """The backend, asking ``victor_memory_backend`` the first time.

        Raises:
            MemoryStoreError: the manager is closed, or no plugin returned a backend.
        """
        if self._closed:
            raise MemoryStoreError("memory is closed (aclose() was called)")
        if self._backend is not None:
            return self._backend
        if self._backend_lock is None:
            import asyncio

            self._backend_lock = asyncio.Lock()
        async with self._backend_lock:
            if self._backend is None:
                backend = None
                if self.plugin_manager is not None:
                    backend = await self.plugin_manager.ahook.victor_memory_backend(
                        settings=self.settings
                    )
                if backend is None:
                    raise MemoryStoreError(
                        "no memory backend: no plugin of the memory family returned one from "
                        "victor_memory_backend (is the built-in 'sqlite-memory' plugin disabled?)"
                    )
                self._backend = backend
        return self._backend

    async def _store_episodes(self, episodes: list[Episode]) -> list[Episode]:
        backend = await self.get_backend()
        cap = self.settings.episodic_memory_max_episodes
        before = self._episodes
        stored, count = await backend.add_episodes(episodes, max_episodes=cap)
        self._counters["episodes_recorded"] += len(stored)
        if before is not None:
            self._counters["episodes_evicted"] += max(0, before + len(stored) - count)
        self._episodes = count
        if self.plugin_manager is not None:
            for episode in stored:
                await self._notify(self.plugin_manager, episode)
        return stored

    async def _notify(self, manager: PluginManager, episode: Episode) -> None:
        try:
            await manager.ahook.victor_episode_stored(episode=episode)
        except Exception as exc:
            # The episode is stored; an observer's failure must not undo or fail that.
            self._counters["observer_errors"] += 1
            from victor_core._log import get_logger

            get_logger().warning("episode_observer_failed", episode_id=episode.id, error=repr(exc))

    async def _store_facts(self, facts: list[Fact], *, reinforce: bool = True) -> list[Fact]:
        backend = await self.get_backend()
        stored, count = await backend.add_facts(
            facts, max_facts=self.settings.semantic_memory_max_facts, reinforce=reinforce
        )
        self._counters["facts_added"] += len(stored)
        self._facts = count
        return stored

    async def consolidate(self, *, min_repeats: int = 2, similarity: float = 0.9) -> dict[str, Any]:
        """Turn repeated episodes into facts and merge near-duplicate facts.

        Steps: (1) episodes with the same goal and outcome (ignoring case and
        spacing) seen ``min_repeats`` times or more become one fact "GOAL ->
        OUTCOME" listing them as sources; (2) strategies from
        ``victor_consolidation_strategies`` propose more fact texts; (3) facts
        whose similarity reaches ``similarity`` are merged into the most used
        one (uses summed, sources and metadata joined). Running it again with
        nothing new changes nothing.

        Returns:
            A report: ``episodes_examined``, ``facts_examined``, ``facts_created``,
            ``facts_updated``, ``facts_merged``, ``strategies``, ``errors``,
            ``duration_s`` (and ``skipped`` when semantic memory is disabled,
            ``merge_skipped`` when the manager has no embedder).

        Raises:
            MemoryArgumentError: ``min_repeats`` below 2 or ``similarity`` outside (0, 1].
        """
        if isinstance(min_repeats, bool) or not isinstance(min_repeats, int) or min_repeats < 2:
            raise _bad("min_repeats", min_repeats, "an int, 2 or more")
        ok = isinstance(similarity, (int, float)) and not isinstance(similarity, bool)
        if not ok or not 0.0 < similarity <= 1.0:
            raise _bad("similarity", similarity, "a number greater than 0 and at most 1")
        from victor_core.memory._consolidation import consolidate

        report = await consolidate(
            self, min_repeats=min_repeats, similarity=float(similarity), embedder=self.embedder
        )
        self._counters["consolidations"] += 1
        self._last_consolidation = report
        return report

    async def aclose(self) -> None:
        """Close the backend (idempotent); later calls raise MemoryStoreError."""
        if self._closed:
            return
        self._closed = True
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.aclose()

    def stats(self) -> dict[str, Any]:
        """What this manager knows without touching storage.

        Counts are the last ones seen (None before the backend was used).
        """
        return {
            "episodic_enabled": self.episodic.enabled,
            "semantic_enabled": self.semantic.enabled,
            "backend": getattr(self._backend, "name", None),
            "episodes": self._episodes,
            "facts": self._facts,
            "max_episodes": self.settings.episodic_memory_max_episodes,
            "max_facts": self.settings.semantic_memory_max_facts,
            **self._counters,
            "last_consolidation": self._last_consolidation,
        }
