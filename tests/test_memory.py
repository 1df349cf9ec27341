"""Episodic and semantic memory: API, caps, pruning, switches, hooks, consolidation."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from structlog.testing import capture_logs

from victor_core._markers import hookimpl
from victor_core.exceptions import MemoryStoreError, SettingsError
from victor_core.memory import (
    Episode,
    Fact,
    MemoryArgumentError,
    MemoryManager,
    fact_key,
)
from victor_core.memory._sqlite import DB_FILENAME, SqliteMemoryBackend
from victor_core.plugins import PluginManager
from victor_core.selection import HashingEmbedder
from victor_core.settings import Settings

T = TypeVar("T")
DAY = 86400.0
# What the orchestrator gives the memory manager.
EMBEDDER = HashingEmbedder(concepts=None)


@pytest.fixture
def run(settings: Settings, clock: Any) -> Callable[..., Any]:
    """Run ``body(manager)`` in a fresh event loop with a manager closed afterwards."""

    def runner(
        body: Callable[[MemoryManager], Awaitable[T]],
        *,
        pm: Any = None,
        use_backend: bool = True,
        embedder: Any = EMBEDDER,
        **overrides: Any,
    ) -> T:
        conf = settings.evolve(**overrides) if overrides else settings
        backend = (
            SqliteMemoryBackend(conf.data_dir / DB_FILENAME) if use_backend and pm is None else None
        )

        async def main() -> T:
            manager = MemoryManager(pm, conf, clock=clock, embedder=embedder, backend=backend)
            try:
                return await body(manager)
            finally:
                await manager.aclose()

        return asyncio.run(main())

    return runner


# -- episodes -----------------------------------------------------------------------------


def test_record_returns_the_stored_episode(run: Any, clock: Any) -> None:
    async def body(m: MemoryManager) -> Episode | None:
        return await m.episodic.record(
            "fix the failing test", ["run_tests", {"tool": "edit"}], "tests pass", repo="api"
        )

    episode = run(body)
    assert isinstance(episode, Episode)
    assert episode.id == 1
    assert episode.goal == "fix the failing test"
    assert episode.actions == ("run_tests", {"tool": "edit"})
    assert episode.outcome == "tests pass"
    assert episode.created_at == clock.now
    assert episode.metadata == {"repo": "api"}
    assert episode.to_dict()["actions"] == ["run_tests", {"tool": "edit"}]


def test_count_recent_and_search(run: Any, clock: Any) -> None:
    async def body(m: MemoryManager) -> tuple[Any, ...]:
        for goal in ("deploy the api", "write the docs", "deploy the worker"):
            clock.now += 1
            await m.episodic.record(goal, [], "ok")
        recent = await m.episodic.recent(2)
        found = await m.episodic.search("deploy worker", limit=5)
        none = await m.episodic.search("kubernetes", limit=5)
        empty = await m.episodic.search("  ?! ", limit=5)
        return await m.episodic.count(), recent, found, none, empty

    count, recent, found, none, empty = run(body)
    assert count == 3
    assert [e.goal for e in recent] == ["deploy the worker", "write the docs"]
    assert found[0].goal == "deploy the worker"
    assert {e.goal for e in found} == {"deploy the worker", "deploy the api"}
    assert none == []
    assert empty == []


def test_outcome_and_metadata_keep_json_values(run: Any) -> None:
    async def body(m: MemoryManager) -> list[Episode]:
        await m.episodic.record("g", "one action", {"status": "ok", "n": 2}, tags=["a", "b"])
        return await m.episodic.recent(1)

    (episode,) = run(body)
    assert episode.actions == ("one action",)
    assert episode.outcome == {"status": "ok", "n": 2}
    assert episode.metadata == {"tags": ["a", "b"]}


def test_episode_cap_keeps_the_newest_under_bulk_writes(run: Any, clock: Any) -> None:
    async def body(m: MemoryManager) -> tuple[int, list[Episode]]:
        await m.episodic.record_many({"goal": f"bulk {i}"} for i in range(500))
        for i in range(30):
            clock.now += 1
            await m.episodic.record(f"single {i}", [], "ok")
        await m.episodic.record_many({"goal": f"tail {i}", "outcome": "ok"} for i in range(20))
        return await m.episodic.count(), await m.episodic.recent(50)

    count, recent = run(body, episodic_memory_max_episodes=50)
    assert count == 50
    goals = [e.goal for e in recent]
    assert goals[:20] == [f"tail {i}" for i in reversed(range(20))]
    assert goals[20:] == [f"single {i}" for i in reversed(range(30))]


def test_a_batch_larger_than_the_cap_keeps_its_newest(run: Any) -> None:
    async def body(m: MemoryManager) -> list[str]:
        await m.episodic.record_many({"goal": f"g{i}"} for i in range(25))
        return [e.goal for e in await m.episodic.recent(100)]

    assert run(body, episodic_memory_max_episodes=10) == [f"g{i}" for i in range(24, 14, -1)]


def test_clear_old_episodes_by_age(run: Any, clock: Any) -> None:
    async def body(m: MemoryManager) -> tuple[int, int, int, list[str]]:
        start = clock.now
        for age_days, goal in ((40, "old"), (31, "older than 30"), (29, "recent"), (1, "new")):
            clock.now = start - age_days * DAY
            await m.episodic.record(goal, [], "ok")
        clock.now = start
        removed = await m.episodic.clear_old_episodes(days=30)
        again = await m.episodic.clear_old_episodes(days=30)
        removed_fraction = await m.episodic.clear_old_episodes(days=1.5)
        return removed, again, removed_fraction, [e.goal for e in await m.episodic.recent(10)]

    removed, again, removed_fraction, left = run(body)
    assert removed == 2
    assert again == 0
    assert removed_fraction == 1
    assert left == ["new"]


@pytest.mark.parametrize("days", [-1, -0.5, math.nan, math.inf, "30", None, True])
def test_clear_old_episodes_rejects_bad_days(run: Any, days: Any) -> None:
    async def body(m: MemoryManager) -> int:
        return await m.episodic.clear_old_episodes(days=days)

    with pytest.raises(MemoryArgumentError, match="days must be a number of days") as info:
        run(body)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, MemoryStoreError)
    assert info.value.argument == "days"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.episodic.record("", [], "ok"), "goal must be a non-empty string"),
        (lambda m: m.episodic.record(None, [], "ok"), "goal must be a non-empty string"),
        (lambda m: m.episodic.record("g", 42, "ok"), "actions must be a list"),
        (lambda m: m.episodic.record("g", [object()], "ok"), "actions must hold JSON"),
        (lambda m: m.episodic.record("g", [], {1, 2}), "outcome must hold JSON"),
        (lambda m: m.episodic.record("g", [], "ok", when=object()), "metadata must hold JSON"),
        (lambda m: m.episodic.record_many(["goal"]), "episodes must be mappings"),
        (lambda m: m.episodic.recent(0), "limit must be an int between 1 and 10000"),
        (lambda m: m.episodic.recent(-3), "limit must be"),
        (lambda m: m.episodic.search("x", limit="5"), "limit must be"),
        (lambda m: m.episodic.search(None), "query must be a string"),
        (lambda m: m.semantic.add_fact("   "), "text must be a non-empty string"),
        (lambda m: m.semantic.search("x", limit=10_001), "limit must be"),
        (lambda m: m.consolidate(min_repeats=1), "min_repeats must be an int, 2 or more"),
        (lambda m: m.consolidate(similarity=0), "similarity must be a number greater than 0"),
    ],
)
def test_bad_arguments_raise_clear_errors(run: Any, call: Any, message: str) -> None:
    async def body(m: MemoryManager) -> Any:
        return await call(m)

    with pytest.raises(MemoryArgumentError, match=message):
        run(body)


def test_caps_are_validated_by_settings(settings: Settings) -> None:
    with pytest.raises(SettingsError, match="episodic_memory_max_episodes"):
        settings.episodic_memory_max_episodes = 0
    with pytest.raises(SettingsError, match="semantic_memory_max_facts"):
        Settings(semantic_memory_max_facts=-5)


# -- facts --------------------------------------------------------------------------------


def test_add_fact_and_search(run: Any) -> None:
    async def body(m: MemoryManager) -> tuple[Any, ...]:
        fact = await m.semantic.add_fact("The api repo uses pytest", source="readme")
        again = await m.semantic.add_fact("the API repo  uses pytest.", checked=True)
        await m.semantic.add_fact("Deploys happen on Fridays")
        found = await m.semantic.search("which test runner does the api use", limit=5)
        return fact, again, await m.semantic.count(), found

    fact, again, count, found = run(body)
    assert isinstance(fact, Fact)
    assert fact.text == "The api repo uses pytest"
    assert again.id == fact.id
    assert again.uses == 2
    assert again.metadata == {"source": "readme", "checked": True}
    assert count == 2
    assert found[0].text == "The api repo uses pytest"
    assert found[0].uses == 2  # the value before this search counted its use


def test_fact_key_ignores_case_spacing_and_final_punctuation() -> None:
    assert fact_key("  The  Sky is BLUE. ") == fact_key("the sky is blue") == "the sky is blue"


def test_fact_cap_evicts_the_least_used_first(run: Any, clock: Any) -> None:
    async def body(m: MemoryManager) -> tuple[int, list[str]]:
        for i in range(10):
            clock.now += 1
            await m.semantic.add_fact(f"fact number {i}")
        clock.now += 1
        await m.semantic.search("number 2", limit=1)  # fact 2 gets a second use
        await m.semantic.add_fact("fact number 5")  # so does fact 5
        for i in range(10, 25):
            clock.now += 1
            await m.semantic.add_facts([f"fact number {i}"])
        facts = await m.semantic.search("fact", limit=100)
        return await m.semantic.count(), sorted(f.text for f in facts)

    count, texts = run(body, semantic_memory_max_facts=10)
    assert count == 10
    assert "fact number 2" in texts
    assert "fact number 5" in texts
    assert "fact number 24" in texts  # the one just written always stays
    assert "fact number 0" not in texts


# -- switches, hooks and life cycle ------------------------------------------------------------


def test_disabled_memories_are_no_ops(run: Any, settings: Settings) -> None:
    async def body(m: MemoryManager) -> tuple[Any, ...]:
        return (
            await m.episodic.record("g", [], "ok"),
            await m.episodic.record_many([{"goal": "g"}]),
            await m.episodic.count(),
            await m.episodic.recent(5),
            await m.episodic.search("g"),
            await m.episodic.clear_old_episodes(1),
            await m.semantic.add_fact("f"),
            await m.semantic.add_facts(["f"]),
            await m.semantic.count(),
            await m.semantic.search("f"),
            (await m.consolidate()).get("skipped"),
        )

    out = run(
        body,
        use_backend=False,
        pm=_NoBackend(),
        enable_episodic_memory=False,
        enable_semantic_memory=False,
    )
    assert out == (None, [], 0, [], [], 0, None, [], 0, [], "semantic memory is disabled")
    assert not (settings.data_dir / DB_FILENAME).exists()


class _NoBackend:
    """Stands in for a plugin manager; fails if memory asks it for anything."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected use of the plugin manager: {name}")


def test_disabled_memory_still_checks_arguments(run: Any) -> None:
    async def body(m: MemoryManager) -> int:
        return await m.episodic.clear_old_episodes(days=-1)

    with pytest.raises(MemoryArgumentError):
        run(body, enable_episodic_memory=False)


def test_default_backend_comes_from_the_builtin_plugin(settings: Settings, clock: Any) -> None:
    async def session(goal: str) -> tuple[int, str | None]:
        pm = PluginManager(settings, discover=False)
        manager = MemoryManager(pm, settings, clock=clock)
        try:
            await manager.episodic.record(goal, [], "ok")
            await manager.semantic.add_fact(f"fact of {goal}")
            return await manager.episodic.count(), manager.stats()["backend"]
        finally:
            await manager.aclose()

    assert asyncio.run(session("first")) == (1, "sqlite")
    # A second manager (a new orchestrator, a new process) sees what the first stored.
    assert asyncio.run(session("second")) == (2, "sqlite")
    assert (settings.data_dir / DB_FILENAME).is_file()


def test_an_installed_backend_overrides_the_default(settings: Settings) -> None:
    sentinel = SqliteMemoryBackend(settings.data_dir / "other.db")

    class Plugin:
        @hookimpl
        def victor_memory_backend(self, settings: Settings) -> Any:
            return sentinel

    async def main() -> Any:
        pm = PluginManager(settings, discover=False)
        pm.register(Plugin())
        manager = MemoryManager(pm, settings)
        try:
            await manager.episodic.record("g", [], "ok")
            return await manager.get_backend()
        finally:
            await manager.aclose()

    assert asyncio.run(main()) is sentinel
    assert (settings.data_dir / "other.db").is_file()
    assert not (settings.data_dir / DB_FILENAME).exists()


def test_no_backend_is_a_clear_error(settings: Settings) -> None:
    async def main() -> Any:
        pm = PluginManager(settings, discover=False, builtins=False)
        manager = MemoryManager(pm, settings)
        try:
            return await manager.episodic.count()
        finally:
            await manager.aclose()

    with pytest.raises(MemoryStoreError, match="no memory backend"):
        asyncio.run(main())


def test_episode_stored_observers_are_notified_and_isolated(settings: Settings) -> None:
    seen: list[Episode] = []

    class Observer:
        @hookimpl
        def victor_episode_stored(self, episode: Episode) -> None:
            seen.append(episode)

    class Broken:
        @hookimpl
        async def victor_episode_stored(self, episode: Episode) -> None:
            raise RuntimeError("observer bug")

    async def main(*plugins: Any) -> tuple[Any, dict[str, Any]]:
        pm = PluginManager(settings, discover=False)
        for plugin in plugins:
            pm.register(plugin)
        manager = MemoryManager(pm, settings)
        try:
            episode = await manager.episodic.record("observed", ["a"], "ok")
            return episode, manager.stats()
        finally:
            await manager.aclose()

    episode, _ = asyncio.run(main(Observer()))
    assert seen == [episode]
    with capture_logs() as logs:
        episode, stats = asyncio.run(main(Broken()))
    assert episode is not None
    assert stats["observer_errors"] == 1
    assert any(log["event"] == "episode_observer_failed" for log in logs)


def test_closed_manager_refuses_calls(settings: Settings) -> None:
    async def main() -> None:
        manager = MemoryManager(PluginManager(settings, discover=False), settings)
        await manager.episodic.record("g", [], "ok")
        await manager.aclose()
        await manager.aclose()  # idempotent
        await manager.episodic.count()

    with pytest.raises(MemoryStoreError, match="memory is closed"):
        asyncio.run(main())


def test_manager_needs_a_plugin_manager_or_a_backend(settings: Settings) -> None:
    with pytest.raises(MemoryStoreError, match="plugin_manager or a backend"):
        MemoryManager(None, settings)


def test_stats_reports_counts_limits_and_activity(run: Any) -> None:
    async def body(m: MemoryManager) -> dict[str, Any]:
        before = m.stats()
        assert before["episodes"] is None
        await m.episodic.record_many({"goal": f"g{i}"} for i in range(7))
        await m.semantic.add_fact("f")
        await m.episodic.search("g1")
        return m.stats()

    stats = run(body, episodic_memory_max_episodes=5)
    assert stats["backend"] == "sqlite"
    assert stats["episodes"] == 5
    assert stats["facts"] == 1
    assert stats["max_episodes"] == 5
    assert stats["episodes_recorded"] == 7
    assert stats["episode_searches"] == 1
    assert stats["episodic_enabled"] is True


# -- consolidation --------------------------------------------------------------------------


def test_consolidation_turns_repeated_episodes_into_facts(run: Any) -> None:
    async def body(m: MemoryManager) -> tuple[Any, ...]:
        for _ in range(3):
            await m.episodic.record("Run the tests", ["pytest"], "tests pass")
        await m.episodic.record("run  the tests", ["pytest"], "Tests pass")
        await m.episodic.record("deploy", [], "ok")  # seen once: no fact
        first = await m.consolidate()
        second = await m.consolidate()
        await m.episodic.record("run the tests", [], "tests pass")
        third = await m.consolidate()
        facts = await m.semantic.search("tests", limit=10)
        return first, second, third, facts

    first, second, third, facts = run(body)
    assert first["facts_created"] == 1
    assert first["episodes_examined"] == 5
    assert second["facts_created"] == second["facts_updated"] == second["facts_merged"] == 0
    assert third["facts_created"] == 0
    assert third["facts_updated"] == 1
    (fact,) = facts
    assert fact.text == "Run the tests -> tests pass"
    assert fact.source_episodes == (1, 2, 3, 4, 6)
    assert fact.metadata["kind"] == "repeated_episode"
    assert fact.metadata["occurrences"] == 5


def test_consolidation_merges_near_duplicate_facts_once(run: Any) -> None:
    async def body(m: MemoryManager) -> tuple[Any, ...]:
        await m.semantic.add_fact("The deploy script needs Python 3.11")
        await m.semantic.add_fact("The deploy script needs Python 3.11 !")  # same key
        await m.semantic.add_fact("the deploy-script needs python 3.11")
        await m.semantic.add_fact("The deploy script need Python 3.11")
        await m.semantic.add_fact("Lunch is at noon")
        first = await m.consolidate()
        second = await m.consolidate()
        facts = await m.semantic.search("deploy script", limit=10)
        return first, second, facts, await m.semantic.count()

    first, second, facts, count = run(body)
    assert first["facts_merged"] == 2
    assert second["facts_merged"] == 0
    assert count == 2
    (fact,) = facts
    assert fact.text == "The deploy script needs Python 3.11"
    assert fact.uses == 4
    assert sorted(fact.metadata["merged_keys"]) == [
        "the deploy script need python 3.11",
        "the deploy-script needs python 3.11",
    ]


def test_a_merged_pattern_fact_is_not_created_again(run: Any) -> None:
    async def body(m: MemoryManager) -> tuple[Any, ...]:
        await m.semantic.add_fact("build the docs -> docs built")
        await m.semantic.search("docs", limit=1)  # more used: it survives the merge
        for _ in range(2):
            await m.episodic.record("build the doc", [], "docs built")
        first = await m.consolidate()
        second = await m.consolidate()
        return first, second, await m.semantic.count()

    first, second, count = run(body)
    assert first["facts_created"] == 1
    assert first["facts_merged"] == 1
    assert second["facts_created"] == second["facts_updated"] == second["facts_merged"] == 0
    assert count == 1


def test_consolidation_without_an_embedder_merges_nothing_and_says_so(run: Any) -> None:
    async def body(m: MemoryManager) -> tuple[dict[str, Any], int]:
        await m.semantic.add_facts(["The api repo uses pytest", "The api repository uses pytest"])
        return await m.consolidate(), await m.semantic.count()

    report, count = run(body, embedder=None)
    assert report["facts_merged"] == 0
    assert report["merge_skipped"] == "no embedder was given to the memory manager"
    assert count == 2


def test_the_orchestrator_gives_memory_its_embedder(settings: Settings) -> None:
    from victor_core.orchestrator import AgentOrchestrator

    orchestrator = AgentOrchestrator(settings)
    embedder = orchestrator.memory.embedder
    assert isinstance(embedder, HashingEmbedder)
    assert embedder.name == HashingEmbedder(concepts=None).name  # no concept groups


def test_consolidation_strategies_from_plugins(settings: Settings) -> None:
    def count_episodes(episodes: list[Episode], facts: list[Fact]) -> list[str]:
        return [f"{len(episodes)} episodes were recorded"] if episodes else []

    async def broken(episodes: list[Episode], facts: list[Fact]) -> list[str]:
        raise ValueError("strategy bug")

    class Plugin:
        @hookimpl
        def victor_consolidation_strategies(self) -> list[Any]:
            return [count_episodes, broken]

    async def main() -> tuple[Any, ...]:
        pm = PluginManager(settings, discover=False)
        pm.register(Plugin())
        manager = MemoryManager(pm, settings)
        try:
            await manager.episodic.record("g", [], "ok")
            with capture_logs() as logs:
                first = await manager.consolidate()
            second = await manager.consolidate()
            facts = await manager.semantic.search("episodes recorded", limit=5)
            return first, second, facts, logs
        finally:
            await manager.aclose()

    first, second, facts, logs = asyncio.run(main())
    assert first["strategies"] == 2
    assert first["facts_created"] == 1
    assert first["errors"] == [
        "test_consolidation_strategies_from_plugins.<locals>.broken: ValueError('strategy bug')"
    ]
    assert any(log["event"] == "consolidation_strategy_failed" for log in logs)
    assert second["facts_created"] == 0
    assert [f.text for f in facts] == ["1 episodes were recorded"]


def test_consolidation_with_an_injected_embedder(settings: Settings, tmp_path: Path) -> None:
    class Embedder:
        calls = 0

        name = "test"
        dim = 2

        def embed(self, texts: list[str]) -> list[list[float]]:
            Embedder.calls += 1
            return [[1.0, 0.0] if "cat" in text else [0.0, 1.0] for text in texts]

    async def main() -> tuple[dict[str, Any], int]:
        backend = SqliteMemoryBackend(tmp_path / "e.db")
        manager = MemoryManager(None, settings, embedder=Embedder(), backend=backend)
        try:
            await manager.semantic.add_facts(["a cat sat here", "a cat sat there", "dogs bark"])
            return await manager.consolidate(), await manager.semantic.count()
        finally:
            await manager.aclose()

    report, count = asyncio.run(main())
    assert Embedder.calls == 1
    assert report["facts_merged"] == 1
    assert count == 2


def test_persistence_across_orchestrators(settings: Settings) -> None:
    from victor_core.orchestrator import AgentOrchestrator

    async def first() -> None:
        async with AgentOrchestrator(settings) as orchestrator:
            for _ in range(2):
                await orchestrator.episodic_memory.record("sync the repo", ["git pull"], "ok")
            await orchestrator.semantic_memory.add_fact("The repo lives on GitHub")

    async def second() -> tuple[int, int, dict[str, Any], int]:
        async with AgentOrchestrator(settings) as orchestrator:
            episodes = await orchestrator.episodic_memory.count()
            report = await orchestrator.consolidate_memories()
            removed = await orchestrator.episodic_memory.clear_old_episodes(days=30)
            return episodes, await orchestrator.semantic_memory.count(), report, removed

    asyncio.run(first())
    episodes, facts, report, removed = asyncio.run(second())
    assert episodes == 2
    assert report["facts_created"] == 1
    assert facts == 2
    assert removed == 0
