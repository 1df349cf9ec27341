"""Tool selection: ranking quality, preferences, caching, learned weights."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from victor_core._markers import hookimpl
from victor_core.cache._manager import CacheManager
from victor_core.exceptions import SettingsError
from victor_core.execution._tools import ToolRegistry
from victor_core.models import Persona, Tool, ToolResult
from victor_core.plugins import PluginManager
from victor_core.selection import RLRanking, ToolSelector, task_type_of
from victor_core.selection._embedding import HashingEmbedder
from victor_core.settings import Settings


def noop(**kwargs: Any) -> None:
    return None


TOOLS = {
    "read_file": "Read a file from disk and return its text contents",
    "write_file": "Write text to a file on disk, creating or overwriting it",
    "list_directory": "List the files and folders in a directory",
    "search_code": "Search the source code of the repository for a regular expression pattern",
    "run_tests": "Run the project's unit tests with pytest and report failures",
    "git_diff": "Show the uncommitted changes in the git working tree as a diff",
    "git_commit": "Commit staged changes to the git repository with a message",
    "http_get": "Fetch a web page or JSON document over HTTP",
    "send_email": "Send an email message to a recipient",
    "summarize_text": "Summarize a long text into a few sentences",
    "translate_text": "Translate text from one language to another",
    "calculate": "Evaluate an arithmetic expression and return the number",
    "lint_code": "Check Python code style and report lint warnings with ruff",
    "format_code": "Reformat source code with the project's formatter",
    "query_database": "Run a SQL query against the database and return rows",
    "create_issue": "Open a new issue in the bug tracker",
}

# query -> the tool that answers it. Written without looking at the ranking.
QUERIES = {
    "show me what is in main.py": "read_file",
    "open the config file and read it": "read_file",
    "save this text into notes.txt": "write_file",
    "which files are in the src folder": "list_directory",
    "find where the function parse is defined": "search_code",
    "grep the codebase for TODO": "search_code",
    "are the tests passing": "run_tests",
    "run pytest": "run_tests",
    "what did I change since the last commit": "git_diff",
    "commit my work": "git_commit",
    "download the page at example.com": "http_get",
    "email the report to alice": "send_email",
    "give me a short summary of this article": "summarize_text",
    "translate this paragraph into French": "translate_text",
    "what is 17 times 23": "calculate",
    "check the code for style problems": "lint_code",
    "reformat the python files": "format_code",
    "select all users from the users table": "query_database",
    "file a bug report about the crash": "create_issue",
}


def make_tools(**extra: str) -> list[Tool]:
    return [
        Tool(name=name, description=text, func=noop) for name, text in {**TOOLS, **extra}.items()
    ]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")


@pytest.fixture
def caches(settings: Settings) -> Iterator[CacheManager]:
    manager = CacheManager(settings)
    yield manager
    manager.close()


def selector_for(settings: Settings, cache_manager: Any = None, **kwargs: Any) -> ToolSelector:
    registry = kwargs.pop("registry", None)
    if registry is None:
        registry = ToolRegistry(tools=make_tools())
    return ToolSelector(registry, settings=settings, cache_manager=cache_manager, **kwargs)


# -- quality ----------------------------------------------------------------------------


def test_precision_on_a_fixed_set_of_tools_and_queries(settings: Settings) -> None:
    selector = selector_for(settings)
    top1 = top3 = 0
    for query, expected in QUERIES.items():
        names = [tool.name for tool in selector.select_tools(query, max_tools=3)]
        top1 += names[:1] == [expected]
        top3 += expected in names
    precision_at_1 = top1 / len(QUERIES)
    recall_at_3 = top3 / len(QUERIES)
    assert precision_at_1 >= 0.8, precision_at_1
    assert recall_at_3 >= 0.95, recall_at_3


def test_max_tools_default_and_bounds(settings: Settings) -> None:
    settings.tool_selection_max_tools = 4
    selector = selector_for(settings)
    assert len(selector.select_tools("read write list search run code file text")) == 4
    assert len(selector.select_tools("read write list search run code file text", max_tools=2)) == 2
    with pytest.raises(SettingsError, match="max_tools"):
        selector.select_tools("x", max_tools=0)
    with pytest.raises(TypeError, match="query must be a string"):
        selector.select_tools(None)  # type: ignore[arg-type]


def test_unrelated_query_and_empty_registry_give_nothing(settings: Settings) -> None:
    assert selector_for(settings).select_tools("zqxv wplk") == []
    assert selector_for(settings, registry=ToolRegistry()).select_tools("read a file") == []


def test_rank_scores_are_sorted(settings: Settings) -> None:
    ranked = selector_for(settings).rank("read the file")
    scores = [score for _, score in ranked]
    assert ranked[0][0].name == "read_file"
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1.0001 for s in scores)


def test_persona_preferences_reorder(settings: Settings) -> None:
    selector = selector_for(settings)
    query = "report failures in the code"
    plain = [t.name for t in selector.select_tools(query, max_tools=3)]
    assert plain[0] == "lint_code"
    tester = Persona(name="tester", description="t", tool_preferences={"run_tests": 5.0})
    preferred = selector.select_tools(query, context={"persona": tester}, max_tools=3)
    assert preferred[0].name == "run_tests"


def test_tag_preferences_apply(settings: Settings) -> None:
    registry = ToolRegistry(
        tools=[
            Tool(name="fast_search", description="search files", func=noop, tags=("fast",)),
            Tool(name="deep_search", description="search files deeply", func=noop),
        ]
    )
    selector = selector_for(settings, registry=registry)
    assert selector.select_tools("search files deeply")[0].name == "deep_search"
    context = {"tool_preferences": {"fast": 10.0}}
    assert selector.select_tools("search files deeply", context=context)[0].name == "fast_search"


def test_recent_messages_break_ties(settings: Settings) -> None:
    selector = selector_for(settings)
    context = {"messages": [{"role": "user", "content": "I want to translate a letter to German"}]}
    assert selector.select_tools("do it for this text", context=context)[0].name == "translate_text"


# -- caching ----------------------------------------------------------------------------


def test_repeat_query_is_a_cache_hit(
    settings: Settings, caches: CacheManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    selector = selector_for(settings, caches)
    calls = []
    original = selector._rank
    monkeypatch.setattr(selector, "_rank", lambda *a: calls.append(1) or original(*a))
    first = selector.select_tools("run the unit tests")
    second = selector.select_tools("Run the   unit tests")  # folded to the same key
    assert second == first
    assert calls == [1]
    stats = caches.stats("tool_selection")
    assert stats["hits"] == 1
    assert stats["misses"] == 1


def test_cached_selection_is_shared_through_the_disk_level(settings: Settings) -> None:
    one = CacheManager(settings)
    try:
        expected = [t.name for t in selector_for(settings, one).select_tools("commit my work")]
    finally:
        one.close()
    two = CacheManager(settings)
    try:
        selector = selector_for(settings, two)
        assert [t.name for t in selector.select_tools("commit my work")] == expected
        assert two.stats("tool_selection")["hits"] == 1
    finally:
        two.close()


def test_context_selections_use_their_own_namespace(
    settings: Settings, caches: CacheManager
) -> None:
    selector = selector_for(settings, caches)
    tester = Persona(name="tester", description="t", tool_preferences={"run_tests": 5.0})
    selector.select_tools("check the code", context={"persona": tester})
    selector.select_tools("check the code")
    assert caches.invalidate("tool_selection", "context:*") == 1
    assert caches.invalidate("tool_selection", "query:check*") == 1


def test_switching_a_namespace_off_stops_caching_it(
    settings: Settings, caches: CacheManager
) -> None:
    settings.tool_selection_cache_query = False
    selector = selector_for(settings, caches)
    selector.select_tools("run the tests")
    selector.select_tools("run the tests")
    assert caches.stats("tool_selection")["hits"] == 0


def test_more_tools_than_cached_recomputes(
    settings: Settings, caches: CacheManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    selector = selector_for(settings, caches)
    calls = []
    original = selector._rank
    monkeypatch.setattr(selector, "_rank", lambda *a: calls.append(a[-1]) or original(*a))
    assert len(selector.select_tools("code file text", max_tools=2)) == 2
    assert len(selector.select_tools("code file text", max_tools=5)) == 5
    assert len(selector.select_tools("code file text", max_tools=3)) == 3
    assert calls == [2, 5]


def test_new_tools_make_cached_selections_stale(settings: Settings, caches: CacheManager) -> None:
    registry = ToolRegistry(tools=make_tools())
    selector = selector_for(settings, caches, registry=registry)
    assert selector.select_tools("deploy the container")[:1] != ["deploy"]
    registry.register(
        Tool(name="deploy", description="Deploy the container to the cluster", func=noop)
    )
    assert selector.select_tools("deploy the container")[0].name == "deploy"


class CountingEmbedder:
    """An expensive embedder stand-in that counts the texts it embeds."""

    name = "counting-test"
    dim = 16

    def __init__(self) -> None:
        self.inner = HashingEmbedder(dim=16)
        self.texts = 0

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_embeddings_of_costly_embedders_are_cached(settings: Settings) -> None:
    first = CountingEmbedder()
    one = CacheManager(settings)
    try:
        selector_for(settings, one, embedder=first).select_tools("run the tests")
    finally:
        one.close()
    assert first.texts == len(TOOLS) + 1
    second = CountingEmbedder()
    two = CacheManager(settings)
    try:
        settings.tool_selection_cache_enabled = False
        tools = selector_for(settings, two, embedder=second).select_tools("run the tests")
        assert second.texts == 0  # tool texts and the query came from the embedding cache
        assert tools
        assert two.stats("embedding")["hits"] == len(TOOLS) + 1
    finally:
        two.close()


def test_embedder_from_the_hook_and_plugin_tools(settings: Settings) -> None:
    embedder = CountingEmbedder()

    class Plugin:
        @hookimpl
        def victor_tools(self) -> list[Tool]:
            return make_tools()

        @hookimpl
        async def victor_embedder(self, settings: Settings) -> Any:
            return embedder

    pm = PluginManager(settings, discover=False, builtins=False)
    pm.register(Plugin())
    selector = ToolSelector(ToolRegistry(pm), settings=settings, plugin_manager=pm)
    tools = asyncio.run(selector.aselect_tools("run the unit tests", max_tools=1))
    assert selector.embedder is embedder
    assert embedder.texts > 0
    assert len(tools) == 1


def test_default_embedder_without_hook_answer(settings: Settings) -> None:
    pm = PluginManager(settings, discover=False, builtins=False)
    selector = ToolSelector(ToolRegistry(tools=make_tools()), settings=settings, plugin_manager=pm)
    assert isinstance(selector.embedder, HashingEmbedder)


# -- learned weights ----------------------------------------------------------------------


def test_task_type() -> None:
    assert task_type_of("Run the unit tests") == "run"
    assert task_type_of("please, reading files") == "read"
    assert task_type_of("the of") == "general"
    assert task_type_of("x", {"task_type": "review"}) == "review"


def test_outcomes_rerank_and_persist(settings: Settings, caches: CacheManager) -> None:
    registry = ToolRegistry(
        tools=[
            Tool(name="grep_a", description="search text in files", func=noop),
            Tool(name="grep_b", description="search text in files", func=noop),
        ]
    )
    selector = selector_for(settings, caches, registry=registry)
    query = "search text in files"
    assert [t.name for t in selector.select_tools(query)] == ["grep_a", "grep_b"]
    for _ in range(5):
        selector.record_outcome(query, ToolResult(name="grep_a", ok=False, error="boom"))
        selector.record_outcome(query, ToolResult(name="grep_b", ok=True))
    assert [t.name for t in selector.select_tools(query)] == ["grep_b", "grep_a"]
    stored = json.loads((settings.data_dir / "tool_selection_rl.json").read_text())
    assert stored["stats"]["search"] == {"grep_a": [0, 5], "grep_b": [5, 0]}
    # A new selector learns the same from disk.
    again = selector_for(settings, registry=registry)
    assert [t.name for t in again.select_tools(query)] == ["grep_b", "grep_a"]


def test_learned_weights_are_cached(settings: Settings, caches: CacheManager) -> None:
    selector = selector_for(settings, caches)
    selector.record_outcome("run the tests", ToolResult(name="run_tests", ok=True))
    selector.rank("run the tests")
    cache = caches.get("tool_selection")
    assert cache is not None
    entry = cache.get("rl:run")
    assert entry["gen"] == 1
    assert entry["weights"]["run_tests"] > 1.0


def test_weights_formula() -> None:
    ranking = RLRanking(None)
    assert ranking.weights("t") == {}
    for _ in range(20):
        ranking.record("t", "good", True)
        ranking.record("t", "bad", False)
    weights = ranking.weights("t")
    assert 1.3 < weights["good"] < 1.5
    assert 0.5 < weights["bad"] < 0.7
    assert ranking.generation("t") == 40
    assert ranking.stats("t") == {"good": [20, 0], "bad": [0, 20]}


def test_corrupt_statistics_file_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "rl.json"
    path.write_text("{not json")
    with capture_logs() as logs:
        ranking = RLRanking(path)
    assert ranking.stats() == {}
    assert logs[0]["event"] == "tool_selection_rl_unreadable"
    ranking.record("t", "tool", True)
    assert json.loads(path.read_text())["stats"] == {"t": {"tool": [1, 0]}}


def test_unwritable_statistics_file_warns(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    ranking = RLRanking(blocker / "rl.json")
    with capture_logs() as logs:
        ranking.record("t", "tool", True)
    assert logs[0]["event"] == "tool_selection_rl_unwritable"
    assert ranking.weights("t")["tool"] > 1.0


def test_record_outcome_needs_a_result(settings: Settings) -> None:
    with pytest.raises(TypeError, match="a str name"):
        selector_for(settings).record_outcome("q", object())


def test_builtin_embedder_skips_the_embedding_cache(
    settings: Settings, caches: CacheManager
) -> None:
    selector_for(settings, caches).select_tools("run the tests")
    stats = caches.stats("embedding")
    assert stats["hits"] + stats["misses"] == 0


def test_sync_selection_before_plugin_tools_load_warns(settings: Settings) -> None:
    pm = PluginManager(settings, discover=False, builtins=False)
    selector = ToolSelector(ToolRegistry(pm), settings=settings, data_dir=False)
    with capture_logs() as logs:
        assert selector.select_tools("run the tests") == []
        selector.select_tools("run the tests")
    assert [log["event"] for log in logs] == ["tool_registry_not_loaded"]
