"""The agent loop end to end on a small repository made in tmp_path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from victor_core import agent as agent_module
from victor_core._markers import hookimpl
from victor_core.agent import STAGES, AgentLoop, RunResult, write_report
from victor_core.exceptions import PersonaNotFoundError, SettingsError
from victor_core.models import Persona, StepResult, Tool
from victor_core.orchestrator import AgentOrchestrator
from victor_core.plugins import PluginManager
from victor_core.settings import Settings

BUNDLED = (
    "victor_workspace_tools.plugin",
    "victor_code_skills.plugin",
    "victor_personas.plugin",
    "victor_planner.plugin",
)


def _bundled() -> list[Any]:
    return [pytest.importorskip(name) for name in BUNDLED]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "core.py").write_text(
        "def add(a, b):\n    return a + b  # TODO: handle strings\n\n\n"
        "def sub(a, b):\n    return a - b\n"
    )
    (root / "tests").mkdir()
    (root / "tests" / "test_core.py").write_text(
        "import sys, pathlib\n"
        "sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))\n"
        "from app.core import add\n\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n"
    )
    (root / ".gitignore").write_text("*.log\n")
    (root / "debug.log").write_text("TODO: not code\n")
    (tmp_path / "secret.txt").write_text("the password is hunter2\n")
    return root


def _orchestrator(settings: Settings, *extra: Any) -> AgentOrchestrator:
    pm = PluginManager(settings, discover=False)
    for module in _bundled():
        pm.register(module)
    for plugin in extra:
        pm.register(plugin)
    return AgentOrchestrator(settings, plugin_manager=pm)


@pytest.fixture
def orch(settings: Settings) -> Iterator[AgentOrchestrator]:
    orchestrator = _orchestrator(settings)
    yield orchestrator
    asyncio.run(orchestrator.aclose())


def _run(orch: AgentOrchestrator, goal: str, **options: Any) -> RunResult:
    async def go() -> RunResult:
        result: RunResult = await orch.agent.run(goal, **options)
        return result

    return asyncio.run(go())


def test_run_end_to_end(orch: AgentOrchestrator, repo: Path) -> None:
    result = _run(orch, "find TODO comments", path=repo)
    actions = [s.action for s in result.steps]
    assert "search_code" in actions
    assert all(s.status == "ok" for s in result.steps)
    assert result.ok
    assert "app/core.py:2" in result.report
    assert "debug.log" not in result.report  # .gitignore is respected
    assert result.response_source == "persona"
    assert list(result.timings_ms) == list(STAGES)
    assert result.path == str(repo.resolve())
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["ok"] is True
    assert doc["steps"][0]["status"] == "ok"
    assert set(doc["cache"]) == {"tool_selection", "response", "embedding"}
    assert "outputs" not in doc
    assert "outputs" in result.to_dict(outputs=True)

    async def episodes() -> int:
        count: int = await orch.episodic_memory.count()
        return count

    assert asyncio.run(episodes()) == 1


def test_second_run_hits_the_selection_cache(orch: AgentOrchestrator, repo: Path) -> None:
    first = _run(orch, "how many lines of code", path=repo)
    second = _run(orch, "how many lines of code", path=repo)
    assert first.cache["tool_selection"]["misses"] >= 1
    assert second.cache["tool_selection"]["hits"] >= 1
    assert second.cache["tool_selection"]["misses"] == 0
    assert [s.action for s in first.steps] == [s.action for s in second.steps]
    assert second.memories >= 1  # the first run is recalled


def test_selection_cache_is_shared_across_orchestrators(settings: Settings, repo: Path) -> None:
    for expected_hits in (0, 1):
        orchestrator = _orchestrator(settings)
        try:
            result = _run(orchestrator, "show recent commits", path=repo)
        finally:
            asyncio.run(orchestrator.aclose())
        assert result.cache["tool_selection"]["hits"] == expected_hits


def test_personas_change_plan_and_report(orch: AgentOrchestrator, repo: Path) -> None:
    tester = _run(orch, "check the project and its tests", path=repo, persona="tester")
    reviewer = _run(orch, "check the project", path=repo, persona="reviewer")
    explainer = _run(orch, "explain the project structure", path=repo, persona="explainer")
    assert "run_tests" in [s.action for s in tester.steps]
    assert "code_review" in [s.action for s in reviewer.steps]
    assert "1 passed" in tester.report
    assert reviewer.report.splitlines()[1].startswith("* ")
    assert any(line.startswith("## ") for line in explainer.report.splitlines())
    assert tester.persona == "tester"


def test_events_report_progress(orch: AgentOrchestrator, repo: Path) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    result = _run(
        orch,
        "list the files",
        path=repo,
        on_event=lambda e: events.append((e.kind, e.to_dict())),
    )
    kinds = [e for e, _ in events]
    assert kinds.count("stage") == len(STAGES)
    assert kinds.count("step_started") == len(result.steps)
    assert kinds[-1] == "run_finished"
    finished = [d for e, d in events if e == "step_finished"]
    assert {d["id"] for d in finished} == {s.id for s in result.steps}
    assert all(d["status"] == "ok" for d in finished)
    assert kinds.index("plan") < kinds.index("step_started")


def test_unknown_persona_is_a_clear_error(orch: AgentOrchestrator, repo: Path) -> None:
    with pytest.raises(PersonaNotFoundError, match="unknown persona 'pirate'; available") as info:
        _run(orch, "list the files", path=repo, persona="pirate")
    assert "tester" in str(info.value)


def test_bad_path_and_goal(orch: AgentOrchestrator, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        _run(orch, "list the files", path=tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SettingsError, match="not a directory"):
        _run(orch, "list the files", path=tmp_path / "file.txt")
    with pytest.raises(SettingsError, match="goal must be a non-empty string"):
        _run(orch, "  ", path=tmp_path)


def test_paths_stay_in_the_workspace(orch: AgentOrchestrator, repo: Path) -> None:
    result = _run(orch, "read the file ../secret.txt", path=repo)
    step = next(s for s in result.steps if s.action == "read_file")
    assert step.status == "failed"
    assert "outside the workspace" in (step.error or "")
    assert "hunter2" not in json.dumps(result.to_dict(outputs=True))
    assert any("outside the workspace" in e for e in result.errors)


class Exploding:
    """A plugin whose tool always raises, next to a working one."""

    @hookimpl
    def victor_tools(self) -> list[Tool]:
        def explode(path: str = ".") -> None:
            raise RuntimeError("the detonator went off")

        def calm(path: str = ".") -> dict[str, Any]:
            return {"summary": "all quiet", "highlights": []}

        return [
            Tool(name="detonate", description="detonate the bomb fuse", func=explode),
            Tool(name="defuse", description="defuse the bomb fuse calmly", func=calm),
        ]


def test_a_failing_tool_does_not_stop_the_run(settings: Settings, repo: Path) -> None:
    orchestrator = _orchestrator(settings, Exploding())
    try:
        result = _run(orchestrator, "detonate or defuse the bomb fuse", path=repo)
    finally:
        asyncio.run(orchestrator.aclose())
    by_action = {s.action: s for s in result.steps}
    assert by_action["detonate"].status == "failed"
    assert "the detonator went off" in (by_action["detonate"].error or "")
    assert by_action["defuse"].status == "ok"
    assert not result.ok
    assert "all quiet" in result.report
    assert "[failed]" in result.report


def test_runs_without_any_plugin(settings: Settings, repo: Path) -> None:
    pm = PluginManager(settings, discover=False)
    orchestrator = AgentOrchestrator(settings, plugin_manager=pm)
    try:
        result = _run(orchestrator, "anything at all", path=repo)
    finally:
        asyncio.run(orchestrator.aclose())
    assert result.steps == []
    assert result.persona == "assistant"
    assert "0 of 0 steps" in result.report


def test_memory_can_be_off(tmp_path: Path, repo: Path) -> None:
    settings = Settings(
        cache_dir=tmp_path / "c",
        data_dir=tmp_path / "d",
        enable_episodic_memory=False,
        enable_semantic_memory=False,
        tool_selection_cache_enabled=False,
    )
    orchestrator = _orchestrator(settings)
    try:
        result = _run(orchestrator, "list the files", path=repo)
    finally:
        asyncio.run(orchestrator.aclose())
    assert result.ok
    assert result.memories == 0
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.sqlite*"))


def test_metrics_record_runs(orch: AgentOrchestrator, repo: Path) -> None:
    _run(orch, "list the files", path=repo)
    assert orch.metrics.get("victor_agent_runs_total").value == 1
    assert orch.metrics.get("victor_agent_run_seconds").count == 1


def _step(action: str, value: Any, status: str = "ok", error: str | None = None) -> StepResult:
    return StepResult(
        id=action, action=action, status=status, value=value, error=error, duration_s=0.01
    )


def test_write_report_styles() -> None:
    steps = [
        _step("a", {"summary": "A done", "highlights": ["a1", "a2"]}),
        _step("b", None, status="failed", error="boom"),
        _step("c", [1, 2, 3]),
        _step("d", "x" * 500),
    ]
    concise = write_report(Persona(name="p", description="d"), "goal", steps)
    assert concise.splitlines()[0] == "goal: 3 of 4 steps succeeded (p)"
    assert "- b [failed]: boom" in concise
    assert "- c: 3 items" in concise
    assert "    a1" in concise
    assert len(concise.splitlines()[-1]) < 220
    bullet = write_report(Persona(name="p", description="d", style="bullet"), "goal", steps)
    assert "    - a1" in bullet
    detailed = write_report(
        Persona(name="p", description="d", style="detailed"), "goal", steps, memories=2
    )
    assert "## a (ok, 10 ms)" in detailed
    assert "Recalled 2 related memories" in detailed
    ranked = write_report(
        Persona(name="p", description="d"),
        "the long ones",
        [_step("a", {"summary": "s", "highlights": ["f is complex", "g is 80 lines long"]})],
    )
    assert ranked.splitlines()[2] == "    g is 80 lines long"
    preferring = write_report(
        Persona(name="p", description="d", tool_preferences={"c": 3.0}), "goal", steps
    )
    assert preferring.splitlines()[1].startswith("- c")


def test_chat_offline_is_cached(orch: AgentOrchestrator) -> None:
    async def go() -> tuple[str, str, dict[str, Any]]:
        first = await orch.chat("how many lines of code are there?")
        second = await orch.chat("how many lines of code are there?")
        return first, second, await orch.get_cache_stats("response")

    first, second, stats = asyncio.run(go())
    assert first == second
    assert "No model provider is configured" in first
    assert "count_lines" in first
    assert stats["hits"] == 1


def test_stream_chat_offline_replays_the_cache(orch: AgentOrchestrator) -> None:
    async def go() -> tuple[list[str], list[str], str]:
        first = [c async for c in orch.agent.stream_chat("list the files please")]
        second = [c async for c in orch.agent.stream_chat("list the files please")]
        whole = await orch.chat("list the files please")
        return first, second, whole

    first, second, whole = asyncio.run(go())
    assert len(first) > 1
    assert "".join(first) == "".join(second) == whole


def test_chat_rejects_empty_messages(orch: AgentOrchestrator) -> None:
    with pytest.raises(SettingsError, match="message must be a non-empty string"):
        asyncio.run(orch.chat(""))


def test_loop_is_built_lazily_by_the_orchestrator(orch: AgentOrchestrator) -> None:
    assert "agent" not in orch.__dict__
    assert isinstance(orch.agent, AgentLoop)
    assert agent_module.DEFAULT_PERSONA.name == "assistant"
