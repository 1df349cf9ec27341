"""The ``agent`` benchmark group: one ``victor run`` turn, cold and warm, stage by stage.

On a small generated repository (a package with a few modules, a TODO, a
``.gitignore``), each goal of a fixed set is run:

* **cold**: a new orchestrator on empty cache and data directories (plugin
  families load, the tool-selection cache misses, memory is created);
* **warm**: the same orchestrator again and again (families loaded, selections
  cached, memory open).

Reported: the median turn time of each, their ratio, and the median time of
every stage (persona, recall, selection, planning, execution, response,
record, metrics) cold and warm. The bundled plugins (workspace tools, code
skills, personas, planner) are used when installed; otherwise a few inline
tools stand in, and ``details["plugins"]`` says so. ``iterations`` is the
number of warm turns (cold turns: a fifth of it, at least 3).
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from victor_core._markers import hookimpl
from victor_core.agent._loop import STAGES
from victor_core.models import Tool
from victor_core.orchestrator import AgentOrchestrator
from victor_core.plugins._manager import PluginManager
from victor_core.settings import Settings

DEFAULT_ITERATIONS = 40

_GOALS = (
    "find TODO comments",
    "count lines of code by language",
    "list the files of the project",
    "review the code",
)
_BUNDLED = (
    "victor_workspace_tools.plugin",
    "victor_code_skills.plugin",
    "victor_personas.plugin",
    "victor_planner.plugin",
)
_MAX_WARM = 400
_MODULE = '''"""Module {n}."""


def add_{n}(a, b):
    """Add."""
    if a and b:
        return a + b
    return a or b


def scale_{n}(values, factor=2):
    return [v * factor for v in values if v]  # TODO: handle None {n}
'''


class _Inline:
    """Stand-in tools when the bundled plugins are not installed."""

    @hookimpl
    def victor_tools(self) -> list[Tool]:
        def count_files(path: str = ".") -> dict[str, Any]:
            files = [p for p in Path(path).rglob("*") if p.is_file()]
            return {"summary": f"{len(files)} files", "highlights": []}

        def find_todos(path: str = ".") -> dict[str, Any]:
            hits = [
                str(p)
                for p in Path(path).rglob("*.py")
                if "TODO" in p.read_text(encoding="utf-8", errors="replace")
            ]
            return {"summary": f"{len(hits)} files with TODO", "highlights": hits[:3]}

        return [
            Tool(name="count_files", description="count and list the files", func=count_files),
            Tool(name="find_todos", description="find TODO comments in code", func=find_todos),
        ]


def _make_repo(root: Path) -> Path:
    repo = root / "repo"
    package = repo / "demo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Demo package."""\n')
    for n in range(8):
        (package / f"mod{n}.py").write_text(_MODULE.format(n=n))
    (repo / "README.md").write_text("# Demo\n\nA repository for the agent benchmark.\n")
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    (repo / "run.log").write_text("ignored\n")
    return repo


def _plugins() -> tuple[list[Any], str]:
    try:
        return [importlib.import_module(name) for name in _BUNDLED], "bundled"
    except ImportError:
        return [_Inline()], "inline (bundled plugins not installed)"


def _orchestrator(base: Path, plugins: list[Any]) -> AgentOrchestrator:
    settings = Settings(cache_dir=base / "cache", data_dir=base / "data")
    pm = PluginManager(settings, discover=False)
    for plugin in plugins:
        pm.register(plugin)
    return AgentOrchestrator(settings, plugin_manager=pm)


async def _turn(
    orch: AgentOrchestrator, goal: str, repo: Path
) -> tuple[float, dict[str, float], Any]:
    start = time.perf_counter()
    result = await orch.agent.run(goal, path=repo)
    return (time.perf_counter() - start) * 1000.0, dict(result.timings_ms), result


def _median_stages(samples: list[dict[str, float]]) -> dict[str, float]:
    return {stage: statistics.median(s.get(stage, 0.0) for s in samples) for stage in STAGES}


async def _cold(
    base: Path, repo: Path, plugins: Any, turns: int
) -> tuple[list[float], list[dict[str, float]], int]:
    """``turns`` turns, each on a new orchestrator with empty caches: ms, stages, most steps."""
    cold_ms: list[float] = []
    cold_stages: list[dict[str, float]] = []
    steps = 0
    for i in range(turns):
        orch = _orchestrator(base / f"cold{i}", plugins)
        try:
            ms, stages, result = await _turn(orch, _GOALS[i % len(_GOALS)], repo)
        finally:
            await orch.aclose()
        cold_ms.append(ms)
        cold_stages.append(stages)
        steps = max(steps, len(result.steps))
    return cold_ms, cold_stages, steps


async def _warm(
    base: Path, repo: Path, plugins: Any, turns: int
) -> tuple[list[float], list[dict[str, float]], dict[str, Any], dict[str, Any]]:
    """``turns`` turns on one orchestrator whose caches are filled first; selection stats."""
    orch = _orchestrator(base / "warm", plugins)
    try:
        for goal in _GOALS:  # fill the caches and load every family first
            await _turn(orch, goal, repo)
        before = orch.caches.stats("tool_selection")
        warm_ms: list[float] = []
        warm_stages: list[dict[str, float]] = []
        for i in range(turns):
            ms, stages, _ = await _turn(orch, _GOALS[i % len(_GOALS)], repo)
            warm_ms.append(ms)
            warm_stages.append(stages)
        after = orch.caches.stats("tool_selection")
    finally:
        await orch.aclose()
    return warm_ms, warm_stages, before, after


async def _measure(warm_turns: int, progress: Callable[[str], None]) -> dict[str, Any]:
    plugins, kind = _plugins()
    cold_turns = max(3, warm_turns // 5)
    with tempfile.TemporaryDirectory(prefix="victor-bench-agent-") as tmp:
        base = Path(tmp)
        repo = _make_repo(base)
        progress(f"agent: {cold_turns} cold turns (new orchestrator, empty caches)")
        cold_ms, cold_stages, steps = await _cold(base, repo, plugins, cold_turns)
        progress(f"agent: {warm_turns} warm turns (caches filled)")
        warm_ms, warm_stages, selection_before, selection_after = await _warm(
            base, repo, plugins, warm_turns
        )
    hits = selection_after["hits"] - selection_before["hits"]
    misses = selection_after["misses"] - selection_before["misses"]
    cold = statistics.median(cold_ms)
    warm = statistics.median(warm_ms)
    cold_by_stage = _median_stages(cold_stages)
    warm_by_stage = _median_stages(warm_stages)
    return {
        "latency_ms": warm,
        "throughput": 1000.0 / warm if warm else None,
        "hit_rate": hits / (hits + misses) if hits + misses else None,
        "ratios": {
            "cold_over_warm": cold / warm if warm else None,
            "selection_cold_over_warm": (
                cold_by_stage["selection"] / warm_by_stage["selection"]
                if warm_by_stage["selection"]
                else None
            ),
        },
        "details": {
            "plugins": kind,
            "goals": list(_GOALS),
            "most_steps": steps,
            "cold_turns": cold_turns,
            "warm_turns": warm_turns,
            "cold_ms": cold,
            "warm_ms": warm,
            "warm_p95_ms": sorted(warm_ms)[max(0, int(len(warm_ms) * 0.95) - 1)],
            "stages_cold_ms": cold_by_stage,
            "stages_warm_ms": warm_by_stage,
        },
    }


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Measure the group (see the module documentation); ``iterations`` = warm turns."""
    turns = max(4, min(int(iterations), _MAX_WARM))
    return asyncio.run(_measure(turns, progress))
