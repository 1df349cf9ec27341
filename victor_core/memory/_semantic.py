"""Semantic memory: facts the agent knows, keyed by their words, capped by use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from victor_core.memory._checks import (
    _check_json,
    _check_limit,
    _check_query,
    _check_text,
    _frozen_dict,
)

if TYPE_CHECKING:
    from victor_core.memory._manager import MemoryManager


@attrs.frozen(kw_only=True)
class Fact:
    """One stored fact.

    Attributes:
        id: the backend's id; None before storing.
        text: the fact.
        source_episodes: ids of the episodes it was learnt from.
        uses: times it was added, merged or found by a search (what the cap keeps).
        created_at / updated_at / last_used_at: seconds since the epoch.
        metadata: the keyword arguments given to ``add_fact``, and consolidation notes.
    """

    id: int | None = None
    text: str
    source_episodes: tuple[int, ...] = ()
    uses: int = 1
    created_at: float
    updated_at: float
    last_used_at: float
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)

    def to_dict(self) -> dict[str, Any]:
        """The fact as JSON-friendly values."""
        return {
            "id": self.id,
            "text": self.text,
            "source_episodes": list(self.source_episodes),
            "uses": self.uses,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_used_at": self.last_used_at,
            "metadata": dict(self.metadata),
        }


def fact_key(text: str) -> str:
    """The identity of a fact: its words, lower-cased, single-spaced.

    Two facts with the same key are the same fact (adding it again counts a use).
    """
    return " ".join(text.lower().split()).rstrip(".!;? ")


class SemanticMemory:
    """What the agent knows: facts, searchable by their words."""

    def __init__(self, manager: MemoryManager) -> None:
        self._manager = manager

    @property
    def enabled(self) -> bool:
        """``settings.enable_semantic_memory``."""
        return bool(self._manager.settings.enable_semantic_memory)

    def _fact(self, text: Any, meta: dict[str, Any]) -> Fact:
        now = self._manager.clock()
        return Fact(
            text=_check_text("text", text).strip(),
            created_at=now,
            updated_at=now,
            last_used_at=now,
            metadata=_check_json("metadata", meta),
        )

    async def add_fact(self, text: str, **meta: Any) -> Fact | None:
        """Store a fact; the same text again (ignoring case and spacing) counts a use.

        Args:
            text: the fact (non-empty).
            meta: extra JSON values kept with the fact (merged into an existing one).

        Returns:
            The stored fact, or None when semantic memory is disabled.

        Raises:
            MemoryArgumentError: empty text or a value JSON cannot hold.
        """
        fact = self._fact(text, meta)
        if not self.enabled:
            return None
        return (await self._manager._store_facts([fact]))[0]

    async def add_facts(self, texts: Iterable[str]) -> list[Fact]:
        """Store many facts in one transaction ([] when disabled)."""
        facts = [self._fact(text, {}) for text in texts]
        if not self.enabled or not facts:
            return []
        return await self._manager._store_facts(facts)

    async def count(self) -> int:
        """The number of stored facts (0 when disabled)."""
        if not self.enabled:
            return 0
        backend = await self._manager.get_backend()
        count = await backend.count_facts()
        self._manager._facts = count
        return count

    async def search(self, query: str, limit: int = 5) -> list[Fact]:
        """Facts sharing words with ``query``, best first; each one found counts a use."""
        _check_query(query)
        _check_limit(limit)
        if not self.enabled:
            return []
        self._manager._counters["fact_searches"] += 1
        backend = await self._manager.get_backend()
        return await backend.search_facts(query, limit)
