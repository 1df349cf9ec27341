"""Episodic and semantic memory, bounded and persistent.

An *episode* is one thing the agent did: a goal, the actions taken and the
outcome. A *fact* is a short text the agent knows, with where it came from.
Both live in a :class:`MemoryBackend` supplied by the ``memory`` hook family
(``victor_memory_backend``); the built-in backend is one SQLite file under
``settings.data_dir`` (:mod:`victor_core.memory._sqlite`).

The orchestrator exposes them as ``episodic_memory`` and ``semantic_memory``::

    episode = await orchestrator.episodic_memory.record(
        "fix the failing test", ["run_tests", "edit_file"], "tests pass", repo="api"
    )
    similar = await orchestrator.episodic_memory.search("failing test", limit=5)
    await orchestrator.semantic_memory.add_fact("The api repo uses pytest", source="readme")
    await orchestrator.episodic_memory.clear_old_episodes(days=30)
    report = await orchestrator.consolidate_memories()

Maximum sizes are hard caps enforced on every write: beyond
``episodic_memory_max_episodes`` the oldest recorded episodes are deleted;
beyond ``semantic_memory_max_facts`` the least used facts go first (uses are
additions of the same text and search hits), the least recently used among
equals. With ``enable_episodic_memory`` or ``enable_semantic_memory`` False
the matching calls do nothing and return None, 0 or an empty list (arguments
are still checked).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from victor_core.exceptions import MemoryArgumentError, MemoryStoreError

if TYPE_CHECKING:
    from victor_core.settings import Settings

__all__ = [
    "Episode",
    "EpisodicMemory",
    "Fact",
    "MemoryArgumentError",
    "MemoryBackend",
    "MemoryManager",
    "SemanticMemory",
    "fact_key",
]

_DAY = 86400.0
#: Most items one ``recent`` or ``search`` call may return.
MAX_LIMIT = 10_000


def _frozen_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


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


# -- argument checks ----------------------------------------------------------------------


def _bad(argument: str, value: Any, accepts: str) -> MemoryArgumentError:
    return MemoryArgumentError(
        f"{argument} must be {accepts} (got {value!r})", argument=argument, value=value
    )


def _check_text(argument: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(argument, value, "a non-empty string")
    return value


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit", limit, f"an int between 1 and {MAX_LIMIT}")
    return limit


def _check_query(query: Any) -> str:
    if not isinstance(query, str):
        raise _bad("query", query, "a string")
    return query


def _check_days(days: Any) -> float:
    ok = isinstance(days, (int, float)) and not isinstance(days, bool)
    if not ok or not math.isfinite(days) or days < 0:
        raise _bad("days", days, "a number of days, 0 or more")
    return float(days)


def _check_json(argument: str, value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MemoryArgumentError(
            f"{argument} must hold JSON values only (str, number, bool, None, list, dict): {exc}",
            argument=argument,
            value=value,
        ) from None
    return value


def _check_actions(actions: Any) -> tuple[Any, ...]:
    if actions is None:
        return ()
    if isinstance(actions, str):
        return (actions,)
    if isinstance(actions, (bytes, dict)) or not isinstance(actions, Iterable):
        raise _bad("actions", actions, "a list of actions (JSON values)")
    return tuple(_check_json("actions", list(actions)))


# -- the two memories ---------------------------------------------------------------------


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


# -- the manager --------------------------------------------------------------------------


class MemoryManager:
    """Owns the memory backend and the two memories built on it.

    Args:
        plugin_manager: dispatches ``victor_memory_backend`` (the backend),
            ``victor_episode_stored`` and ``victor_consolidation_strategies``;
            may be None when ``backend`` is given.
        settings: enable flags, caps and ``data_dir``.
        clock: seconds since the epoch (timestamps and pruning ages).
        embedder: a :class:`~victor_core.selection._embedding.Embedder` used by consolidation
            to find near-duplicate facts; None uses the built-in
            :class:`~victor_core.selection._embedding.HashingEmbedder` without concept groups.
        backend: a ready backend, bypassing the hook (tests, embedding apps).

    The backend is obtained on first use, not at construction.
    """

    def __init__(
        self,
        plugin_manager: Any,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        embedder: Any = None,
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
                await self._notify(episode)
        return stored

    async def _notify(self, episode: Episode) -> None:
        try:
            await self.plugin_manager.ahook.victor_episode_stored(episode=episode)
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
            ``duration_s`` (and ``skipped`` when both memories are disabled).

        Raises:
            MemoryArgumentError: ``min_repeats`` below 2 or ``similarity`` outside (0, 1].
        """
        if isinstance(min_repeats, bool) or not isinstance(min_repeats, int) or min_repeats < 2:
            raise _bad("min_repeats", min_repeats, "an int, 2 or more")
        ok = isinstance(similarity, (int, float)) and not isinstance(similarity, bool)
        if not ok or not 0.0 < similarity <= 1.0:
            raise _bad("similarity", similarity, "a number greater than 0 and at most 1")
        report = await _consolidate(self, min_repeats=min_repeats, similarity=float(similarity))
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


# -- consolidation ------------------------------------------------------------------------


async def _consolidate(
    manager: MemoryManager, *, min_repeats: int, similarity: float
) -> dict[str, Any]:
    started = time.perf_counter()
    report: dict[str, Any] = {
        "episodes_examined": 0,
        "facts_examined": 0,
        "facts_created": 0,
        "facts_updated": 0,
        "facts_merged": 0,
        "strategies": 0,
        "errors": [],
    }
    if not manager.semantic.enabled:
        # Consolidation produces facts; with nowhere to put them there is nothing to do.
        report["skipped"] = "semantic memory is disabled"
        report["duration_s"] = time.perf_counter() - started
        return report
    backend = await manager.get_backend()
    episodes = await backend.list_episodes() if manager.episodic.enabled else []
    facts = await backend.list_facts()
    report["episodes_examined"] = len(episodes)
    report["facts_examined"] = len(facts)
    now = manager.clock()

    # Index existing facts by their key and by the keys merged into them, so
    # that a fact merged away is not created again (idempotency).
    by_key: dict[str, Fact] = {}
    for fact in facts:
        by_key[fact_key(fact.text)] = fact
        for alias in fact.metadata.get("merged_keys", ()):
            by_key.setdefault(alias, fact)

    proposals: list[Fact] = []
    for text, ids in _repeated_episodes(episodes, min_repeats):
        meta = {"kind": "repeated_episode", "occurrences": len(ids)}
        proposals.append(_new_fact(text, ids, now, meta))
    for text in await _strategy_texts(manager, episodes, facts, report):
        proposals.append(_new_fact(text, (), now, {"kind": "strategy"}))

    writes: list[Fact] = []
    for proposal in proposals:
        existing = by_key.get(fact_key(proposal.text))
        if existing is None:
            writes.append(proposal)
            report["facts_created"] += 1
        elif not set(proposal.source_episodes) <= set(existing.source_episodes):
            sources = tuple(sorted(set(existing.source_episodes) | set(proposal.source_episodes)))
            meta = dict(existing.metadata)
            if meta.get("kind") == "repeated_episode":
                meta["occurrences"] = len(sources)
            writes.append(
                attrs.evolve(existing, source_episodes=sources, metadata=meta, updated_at=now)
            )
            report["facts_updated"] += 1
        else:
            continue
        by_key[fact_key(proposal.text)] = writes[-1]
    if writes:
        new = [w for w in writes if w.id is None]
        changed = [w for w in writes if w.id is not None]
        if changed:
            await backend.replace_facts(changed, ())
        if new:
            await manager._store_facts(new, reinforce=False)
        facts = await backend.list_facts()

    updates, deleted = _merge_near_duplicates(facts, similarity, now, manager.embedder)
    if deleted:
        await backend.replace_facts(updates, deleted)
        report["facts_merged"] = len(deleted)
        manager._facts = await backend.count_facts()
    report["duration_s"] = time.perf_counter() - started
    return report


def _new_fact(text: str, sources: Sequence[int], now: float, meta: dict[str, Any]) -> Fact:
    return Fact(
        text=text,
        source_episodes=tuple(sources),
        created_at=now,
        updated_at=now,
        last_used_at=now,
        metadata=meta,
    )


def _outcome_text(outcome: Any) -> str:
    return outcome if isinstance(outcome, str) else json.dumps(outcome, sort_keys=True)


def _repeated_episodes(
    episodes: Sequence[Episode], min_repeats: int
) -> list[tuple[str, list[int]]]:
    groups: dict[tuple[str, str], list[Episode]] = {}
    for episode in episodes:
        outcome = _outcome_text(episode.outcome)
        groups.setdefault((fact_key(episode.goal), fact_key(outcome)), []).append(episode)
    out = []
    for members in groups.values():
        if len(members) >= min_repeats:
            first = members[0]
            text = f"{first.goal.strip()} -> {_outcome_text(first.outcome).strip()}"
            out.append((text, [int(e.id or 0) for e in members]))
    return out


async def _strategy_texts(
    manager: MemoryManager, episodes: list[Episode], facts: list[Fact], report: dict[str, Any]
) -> list[str]:
    if manager.plugin_manager is None:
        return []
    import inspect

    lists = await manager.plugin_manager.ahook.victor_consolidation_strategies()
    texts: list[str] = []
    for strategy in [s for group in lists or () for s in group or ()]:
        report["strategies"] += 1
        name = getattr(strategy, "__qualname__", repr(strategy))
        try:
            result = strategy(list(episodes), list(facts))
            if inspect.isawaitable(result):
                result = await result
            for text in result or ():
                texts.append(_check_text("strategy fact", text).strip())
        except Exception as exc:
            # One broken strategy must not stop consolidation; it is reported.
            report["errors"].append(f"{name}: {exc!r}")
            from victor_core._log import get_logger

            get_logger().warning("consolidation_strategy_failed", strategy=name, error=repr(exc))
    return texts


def _similarity(texts: list[str], embedder: Any) -> Callable[[int, int], float]:
    """Cosine similarity between ``texts[i]`` and ``texts[j]``, vectors computed once."""
    from victor_core.selection._embedding import HashingEmbedder, cosine

    if embedder is None:
        # Without concept groups: "tests pass" and "tests fail" must stay apart.
        embedder = HashingEmbedder(concepts=None)
    if hasattr(embedder, "embed_sparse"):
        sparse: list[dict[Any, float]] = list(embedder.embed_sparse(texts))
        norms = [math.sqrt(sum(v * v for v in vec.values())) for vec in sparse]

        def sim(i: int, j: int) -> float:
            a, b = sparse[i], sparse[j]
            if len(a) > len(b):
                a, b = b, a
            dot = sum(v * b.get(k, 0.0) for k, v in a.items())
            return dot / (norms[i] * norms[j]) if norms[i] and norms[j] else 0.0

        return sim
    dense = [list(v) for v in embedder.embed(texts)]
    return lambda i, j: cosine(dense[i], dense[j])


def _merge_near_duplicates(
    facts: list[Fact], threshold: float, now: float, embedder: Any
) -> tuple[list[Fact], list[int]]:
    """Group facts whose similarity reaches ``threshold``; (survivor updates, deleted ids).

    Comparing every pair is quadratic, so only facts sharing one of their
    three rarest words are compared: near-duplicates share nearly all words.
    """
    if len(facts) < 2:
        return [], []
    from victor_core.selection._embedding import STOP_WORDS, stem, tokenize

    words = []
    for fact in facts:
        tokens = tokenize(fact.text)
        words.append({stem(w) for w in tokens if w not in STOP_WORDS} or set(tokens))
    df: dict[str, int] = {}
    for ws in words:
        for w in ws:
            df[w] = df.get(w, 0) + 1
    blocks: dict[str, list[int]] = {}
    for i, ws in enumerate(words):
        for w in sorted(ws, key=lambda w: (df[w], w))[:3]:
            blocks.setdefault(w, []).append(i)
    sim = _similarity([f.text for f in facts], embedder)

    parent = list(range(len(facts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    checked: set[tuple[int, int]] = set()
    for members in blocks.values():
        for a_pos, i in enumerate(members):
            for j in members[a_pos + 1 :]:
                pair = (i, j)
                if pair in checked or find(i) == find(j):
                    continue
                checked.add(pair)
                if sim(i, j) >= threshold:
                    parent[find(j)] = find(i)

    clusters: dict[int, list[int]] = {}
    for i in range(len(facts)):
        clusters.setdefault(find(i), []).append(i)
    updates: list[Fact] = []
    deleted: list[int] = []
    for members in clusters.values():
        if len(members) < 2:
            continue
        group = sorted((facts[i] for i in members), key=lambda f: (-f.uses, f.id or 0))
        keep, rest = group[0], group[1:]
        merged_keys = set(keep.metadata.get("merged_keys", ()))
        sources = set(keep.source_episodes)
        meta: dict[str, Any] = {}
        for other in reversed(rest):
            meta.update(other.metadata)
            merged_keys.add(fact_key(other.text))
            merged_keys.update(other.metadata.get("merged_keys", ()))
            sources.update(other.source_episodes)
        meta.update(keep.metadata)
        merged_keys.discard(fact_key(keep.text))
        meta["merged_keys"] = sorted(merged_keys)
        updates.append(
            attrs.evolve(
                keep,
                uses=sum(f.uses for f in group),
                source_episodes=tuple(sorted(sources)),
                last_used_at=max(f.last_used_at for f in group),
                updated_at=now,
                metadata=meta,
            )
        )
        deleted.extend(int(f.id or 0) for f in rest)
    return updates, deleted
