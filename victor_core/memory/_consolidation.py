"""Consolidation: repeated episodes become facts, near-duplicate facts merge.

The similarity of two facts comes from an embedder the caller supplies (the
orchestrator wires the selection service's hashing embedder, without concept
groups): memory does not know how text is turned into vectors.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from victor_core.memory._checks import _check_text
from victor_core.memory._episodic import Episode
from victor_core.memory._semantic import Fact, fact_key

if TYPE_CHECKING:
    from victor_core.memory._backend import MemoryBackend
    from victor_core.memory._manager import MemoryManager

__all__ = ["FactEmbedder", "consolidate"]

_WORD = re.compile(r"[a-z0-9]+")


class FactEmbedder(Protocol):
    """What consolidation needs to compare facts: one vector per text.

    An embedder may also offer ``embed_sparse(texts)`` (sparse vectors as
    ``{feature: weight}``, compared without densifying) and ``terms(text)``
    (the words that identify a text, used to pick which facts to compare);
    :class:`~victor_core.selection.HashingEmbedder` offers both.
    """

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""


async def consolidate(
    manager: MemoryManager, *, min_repeats: int, similarity: float, embedder: FactEmbedder | None
) -> dict[str, Any]:
    """Run one consolidation over ``manager``'s memories; the report.

    Arguments are checked by :meth:`MemoryManager.consolidate`. Without an
    ``embedder`` no near-duplicates are merged (the report says so).
    """
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
    else:
        backend = await manager.get_backend()
        facts = await _learn_facts(manager, backend, min_repeats, report)
        if embedder is None:
            report["merge_skipped"] = "no embedder was given to the memory manager"
        else:
            updates, deleted = merge_near_duplicates(facts, similarity, manager.clock(), embedder)
            if deleted:
                await backend.replace_facts(updates, deleted)
                report["facts_merged"] = len(deleted)
                manager._facts = await backend.count_facts()
    report["duration_s"] = time.perf_counter() - started
    return report


async def _learn_facts(
    manager: MemoryManager, backend: MemoryBackend, min_repeats: int, report: dict[str, Any]
) -> list[Fact]:
    """Store the facts that repeated episodes and strategies propose; every fact after."""
    episodes = await backend.list_episodes() if manager.episodic.enabled else []
    facts = await backend.list_facts()
    report["episodes_examined"] = len(episodes)
    report["facts_examined"] = len(facts)
    now = manager.clock()
    proposals = [
        _new_fact(text, ids, now, {"kind": "repeated_episode", "occurrences": len(ids)})
        for text, ids in _repeated_episodes(episodes, min_repeats)
    ]
    for text in await _strategy_texts(manager, episodes, facts, report):
        proposals.append(_new_fact(text, (), now, {"kind": "strategy"}))
    writes = _fact_writes(facts, proposals, now, report)
    if not writes:
        return facts
    changed = [w for w in writes if w.id is not None]
    new = [w for w in writes if w.id is None]
    if changed:
        await backend.replace_facts(changed, ())
    if new:
        await manager._store_facts(new, reinforce=False)
    return await backend.list_facts()


def _fact_writes(
    facts: Sequence[Fact], proposals: Sequence[Fact], now: float, report: dict[str, Any]
) -> list[Fact]:
    """New facts and updated sources for ``proposals``; counts them in ``report``."""
    # Index existing facts by their key and by the keys merged into them, so
    # that a fact merged away is not created again (idempotency).
    by_key: dict[str, Fact] = {}
    for fact in facts:
        by_key[fact_key(fact.text)] = fact
        for alias in fact.metadata.get("merged_keys", ()):
            by_key.setdefault(alias, fact)
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
    return writes


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


# -- near-duplicates ----------------------------------------------------------------------


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = math.fsum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def _similarity(texts: list[str], embedder: FactEmbedder) -> Callable[[int, int], float]:
    """Cosine similarity between ``texts[i]`` and ``texts[j]``, vectors computed once."""
    embed_sparse = getattr(embedder, "embed_sparse", None)
    if callable(embed_sparse):
        sparse: list[dict[Any, float]] = list(embed_sparse(texts))
        norms = [math.sqrt(sum(v * v for v in vec.values())) for vec in sparse]

        def sim(i: int, j: int) -> float:
            a, b = sparse[i], sparse[j]
            if len(a) > len(b):
                a, b = b, a
            dot = sum(v * b.get(k, 0.0) for k, v in a.items())
            return dot / (norms[i] * norms[j]) if norms[i] and norms[j] else 0.0

        return sim
    dense = [list(v) for v in embedder.embed(texts)]
    return lambda i, j: _cosine(dense[i], dense[j])


def _terms(text: str, embedder: FactEmbedder) -> set[str]:
    """The words that identify ``text``: the embedder's, else its lower-cased words."""
    terms = getattr(embedder, "terms", None)
    found = set(terms(text)) if callable(terms) else set(_WORD.findall(text.lower()))
    return found or {text}


def _candidate_blocks(facts: Sequence[Fact], embedder: FactEmbedder) -> list[list[int]]:
    """Groups of fact indexes worth comparing: those sharing one of their three rarest terms.

    Comparing every pair is quadratic; near-duplicates share nearly all words,
    so they share a rare one.
    """
    words = [_terms(fact.text, embedder) for fact in facts]
    df: dict[str, int] = {}
    for ws in words:
        for w in ws:
            df[w] = df.get(w, 0) + 1
    blocks: dict[str, list[int]] = {}
    for i, ws in enumerate(words):
        for w in sorted(ws, key=lambda w: (df[w], w))[:3]:
            blocks.setdefault(w, []).append(i)
    return list(blocks.values())


def _clusters(
    count: int, blocks: list[list[int]], sim: Callable[[int, int], float], threshold: float
) -> list[list[int]]:
    """Union-find over the pairs of each block whose similarity reaches ``threshold``."""
    parent = list(range(count))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    checked: set[tuple[int, int]] = set()
    for members in blocks:
        for a_pos, i in enumerate(members):
            for j in members[a_pos + 1 :]:
                pair = (i, j)
                if pair in checked or find(i) == find(j):
                    continue
                checked.add(pair)
                if sim(i, j) >= threshold:
                    parent[find(j)] = find(i)
    clusters: dict[int, list[int]] = {}
    for i in range(count):
        clusters.setdefault(find(i), []).append(i)
    return [members for members in clusters.values() if len(members) > 1]


def _merge_group(group: Sequence[Fact], now: float) -> Fact:
    """The most used fact of ``group``, carrying the uses, sources and metadata of all."""
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
    return attrs.evolve(
        keep,
        uses=sum(f.uses for f in group),
        source_episodes=tuple(sorted(sources)),
        last_used_at=max(f.last_used_at for f in group),
        updated_at=now,
        metadata=meta,
    )


def merge_near_duplicates(
    facts: list[Fact], threshold: float, now: float, embedder: FactEmbedder
) -> tuple[list[Fact], list[int]]:
    """Group facts whose similarity reaches ``threshold``; (survivor updates, deleted ids)."""
    if len(facts) < 2:
        return [], []
    sim = _similarity([f.text for f in facts], embedder)
    updates: list[Fact] = []
    deleted: list[int] = []
    for members in _clusters(len(facts), _candidate_blocks(facts, embedder), sim, threshold):
        group = sorted((facts[i] for i in members), key=lambda f: (-f.uses, f.id or 0))
        updates.append(_merge_group(group, now))
        deleted.extend(int(f.id or 0) for f in group[1:])
    return updates, deleted
