"""Episodic memory: what the agent did (goal, actions, outcome), bounded by age and count."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from victor_core.memory._checks import (
    _bad,
    _check_actions,
    _check_days,
    _check_json,
    _check_limit,
    _check_query,
    _check_text,
    _frozen_dict,
)

if TYPE_CHECKING:
    from victor_core.memory._manager import MemoryManager

_DAY = 86400.0


@attrs.frozen(kw_only=True)
class Episode:
    """One recorded episode.

    Attributes:
        id: the backend's id (increasing in recording order); None before storing.
        goal: what the agent set out to do.
        actions: what it did (JSON values: tool names, dicts of calls, ...).
        outcome: what came of it (a JSON value, usually a string).
        created_at: seconds since the epoch when it was recorded.
        metadata: the keyword arguments given to ``record``.
    """

    id: int | None = None
    goal: str
    actions: tuple[Any, ...] = ()
    outcome: Any = ""
    created_at: float
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)

    def to_dict(self) -> dict[str, Any]:
        """The episode as JSON-friendly values."""
        return {
            "id": self.id,
            "goal": self.goal,
            "actions": list(self.actions),
            "outcome": self.outcome,
            "created_at": self.created_at,
            "metadata": dict(self.metadata),
        }


class EpisodicMemory:
    """What the agent did: record episodes, recall recent or similar ones, prune old ones."""

    def __init__(self, manager: MemoryManager) -> None:
        self._manager = manager

    @property
    def enabled(self) -> bool:
        """``settings.enable_episodic_memory``."""
        return bool(self._manager.settings.enable_episodic_memory)

    def _episode(self, goal: Any, actions: Any, outcome: Any, meta: dict[str, Any]) -> Episode:
        return Episode(
            goal=_check_text("goal", goal),
            actions=_check_actions(actions),
            outcome=_check_json("outcome", outcome),
            created_at=self._manager.clock(),
            metadata=_check_json("metadata", meta),
        )

    async def record(
        self, goal: str, actions: Iterable[Any] = (), outcome: Any = "", **meta: Any
    ) -> Episode | None:
        """Store one episode and notify ``victor_episode_stored`` observers.

        Args:
            goal: what the agent set out to do (non-empty).
            actions: the actions taken (JSON values; a single string is one action).
            outcome: the result (a JSON value).
            meta: extra JSON values kept with the episode.

        Returns:
            The stored episode, or None when episodic memory is disabled.

        Raises:
            MemoryArgumentError: an empty goal or a value JSON cannot hold.
            MemoryStoreError: the backend failed.
        """
        episode = self._episode(goal, actions, outcome, meta)
        if not self.enabled:
            return None
        stored = await self._manager._store_episodes([episode])
        return stored[0]

    async def record_many(self, episodes: Iterable[Mapping[str, Any]]) -> list[Episode]:
        """Store many episodes in one transaction (faster than ``record`` in a loop).

        Args:
            episodes: mappings with ``goal`` and optionally ``actions``, ``outcome``
                and any metadata keys.

        Returns:
            The stored episodes ([] when episodic memory is disabled).
        """
        items: list[Episode] = []
        for entry in episodes:
            if not isinstance(entry, Mapping):
                raise _bad("episodes", entry, "mappings with a 'goal' key")
            meta = {k: v for k, v in entry.items() if k not in ("goal", "actions", "outcome")}
            items.append(
                self._episode(
                    entry.get("goal"), entry.get("actions", ()), entry.get("outcome", ""), meta
                )
            )
        if not self.enabled or not items:
            return []
        return await self._manager._store_episodes(items)

    async def count(self) -> int:
        """The number of stored episodes (0 when disabled)."""
        if not self.enabled:
            return 0
        backend = await self._manager.get_backend()
        count = await backend.count_episodes()
        self._manager._episodes = count
        return count

    async def recent(self, limit: int = 10) -> list[Episode]:
        """The ``limit`` most recently recorded episodes, newest first."""
        _check_limit(limit)
        if not self.enabled:
            return []
        backend = await self._manager.get_backend()
        return await backend.recent_episodes(limit)

    async def search(self, query: str, limit: int = 5) -> list[Episode]:
        """Episodes whose goal, actions or outcome share words with ``query``, best first.

        Args:
            query: free text (words matter; punctuation and case do not).
            limit: most episodes returned (1 to 10,000).
        """
        _check_query(query)
        _check_limit(limit)
        if not self.enabled:
            return []
        self._manager._counters["episode_searches"] += 1
        backend = await self._manager.get_backend()
        return await backend.search_episodes(query, limit)

    async def clear_old_episodes(self, days: float = 30) -> int:
        """Delete episodes recorded more than ``days`` days ago.

        Args:
            days: age in days (0 or more; fractions allowed; 0 deletes all
                episodes recorded before now).

        Returns:
            The number of episodes deleted.

        Raises:
            MemoryArgumentError: ``days`` is negative, not a number or not finite.
        """
        age = _check_days(days)
        if not self.enabled:
            return 0
        backend = await self._manager.get_backend()
        removed = await backend.delete_episodes_before(self._manager.clock() - age * _DAY)
        self._manager._counters["episodes_pruned"] += removed
        if self._manager._episodes is not None:
            self._manager._episodes = max(0, self._manager._episodes - removed)
        return removed
