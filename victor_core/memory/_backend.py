"""The contract of a memory backend, the store behind both memories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from victor_core.memory._episodic import Episode
    from victor_core.memory._semantic import Fact


class MemoryBackend(Protocol):
    """What a memory backend implements (all methods are coroutines).

    Return ``SqliteMemoryBackend``-like objects from ``victor_memory_backend``.
    Timestamps come in on the items (the manager's clock); caps are passed on
    every write and must be enforced inside the same transaction.
    """

    name: str

    async def add_episodes(
        self, episodes: Sequence[Episode], *, max_episodes: int
    ) -> tuple[list[Episode], int]:
        """Store episodes, delete the oldest beyond ``max_episodes``; return (stored, count)."""

    async def count_episodes(self) -> int:
        """The number of stored episodes."""

    async def recent_episodes(self, limit: int) -> list[Episode]:
        """The most recently recorded episodes, newest first."""

    async def list_episodes(self) -> list[Episode]:
        """Every episode, oldest first."""

    async def search_episodes(self, query: str, limit: int) -> list[Episode]:
        """Episodes matching the words of ``query``, best first."""

    async def delete_episodes_before(self, cutoff: float) -> int:
        """Delete episodes created before ``cutoff``; return how many."""

    async def add_facts(
        self, facts: Sequence[Fact], *, max_facts: int, reinforce: bool = True
    ) -> tuple[list[Fact], int]:
        """Insert or merge facts by :func:`fact_key`, trim to ``max_facts``; (stored, count)."""

    async def replace_facts(self, updates: Sequence[Fact], delete_ids: Sequence[int]) -> None:
        """Overwrite facts by id and delete ``delete_ids``, atomically."""

    async def count_facts(self) -> int:
        """The number of stored facts."""

    async def list_facts(self) -> list[Fact]:
        """Every fact, oldest first."""

    async def search_facts(self, query: str, limit: int) -> list[Fact]:
        """Facts matching the words of ``query``, best first, counting a use of each."""

    async def stats(self) -> dict[str, Any]:
        """Figures about the store (at least ``backend``, ``episodes``, ``facts``)."""

    async def aclose(self) -> None:
        """Release files and connections (idempotent)."""
