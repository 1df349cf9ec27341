"""Planning: victor_plan dispatch, the built-in planner, plan execution, execute_task."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from victor_core._markers import hookimpl
from victor_core.exceptions import (
    ChainError,
    PluginValidationError,
    ToolNotFoundError,
    ToolParameterError,
)
from victor_core.execution._tools import ToolRegistry
from victor_core.models import Plan, PlanResult, PlanStep, Skill, Tool
from victor_core.planning import PlanningService, builtin_plan, split_goal
from victor_core.plugins import PluginManager
from victor_core.selection import ToolSelector
from victor_core.settings import Settings


def list_files(path: str) -> list[str]:
    return [f"{path}/a.py", f"{path}/b.py"]


async def count_lines(path: str) -> int:
    await asyncio.sleep(0)
    return 10


def send_email(to: str, body: str) -> str:
    return "sent"


def summarize(inputs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(inputs.items()))


TOOLS = [
    Tool(name="list_files", description="List the files in a directory", func=list_files),
    Tool(name="count_lines", description="Count lines of code in files", func=count_lines),
    Tool(name="send_email", description="Send an email message", func=send_email),
]
SUMMARIZE = Skill(name="summarize", description="Summarize the results", func=summarize)


class ToolsAndSkills:
    @hookimpl
    def victor_tools(self) -> list[Tool]:
        return TOOLS

    @hookimpl
    def victor_skills(self) -> list[Skill]:
        return [SUMMARIZE]


def make_service(*plugins: Any, selector: bool = False, **settings: Any) -> PlanningService:
    config = Settings(**settings)
    pm = PluginManager(config, discover=False, builtins=False)
    for plugin in (ToolsAndSkills(), *plugins):
        pm.register(plugin)
    chooser = None
    if selector:
        chooser = ToolSelector(ToolRegistry(pm), settings=config, data_dir=False)
    return PlanningService(pm, config, selector=chooser)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_split_goal() -> None:
    assert split_goal("list files and count lines, then summarize") == [
        ["list files", "count lines"],
        ["summarize"],
    ]
    assert split_goal("read it; test it. Report") == [["read it"], ["test it"], ["Report"]]
    assert split_goal("a and b", hierarchical=False) == [["a and b"]]
    assert split_goal("  ") == []


def test_plugin_planner_wins_and_gets_the_context() -> None:
    seen: dict[str, Any] = {}

    class Planner:
        @hookimpl
        async def victor_plan(self, goal: str, context: Mapping[str, Any]) -> Plan:
            seen.update(context)
            return Plan(goal=goal, steps=[PlanStep(id="x", action="list_files")])

    service = make_service(Planner())
    plan = run(service.plan_for_goal("anything", context={"params": {"path": "."}}))
    assert [s.id for s in plan.steps] == ["x"]
    assert {t.name for t in seen["tools"]} == {"list_files", "count_lines", "send_email"}
    assert seen["skills"] == [SUMMARIZE]
    assert seen["params"] == {"path": "."}
    assert seen["persona"] is None
    assert seen["memories"] == []
    assert seen["settings"] is service.settings


def test_falls_back_to_builtin_when_plugins_return_none() -> None:
    class Declines:
        @hookimpl
        def victor_plan(self, goal: str, context: Mapping[str, Any]) -> None:
            return None

    plan = run(make_service(Declines()).plan_for_goal("summarize"))
    assert plan.metadata["planner"] == "builtin"
    assert [s.action for s in plan.steps] == ["summarize"]


def test_bad_plugin_plans_are_rejected() -> None:
    class Garbage:
        @hookimpl
        def victor_plan(self, goal: str, context: Mapping[str, Any]) -> Any:
            return "do it"

    with pytest.raises(PluginValidationError, match="victor_plan"):
        run(make_service(Garbage()).plan_for_goal("x"))

    class Cyclic:
        @hookimpl
        def victor_plan(self, goal: str, context: Mapping[str, Any]) -> Plan:
            return Plan(
                goal=goal,
                steps=[
                    PlanStep(id="a", action="t", depends_on="b"),
                    PlanStep(id="b", action="t", depends_on="a"),
                ],
            )

    with pytest.raises(ChainError, match="cycle"):
        run(make_service(Cyclic()).plan_for_goal("x"))
    with pytest.raises(TypeError, match="goal must be a string"):
        run(make_service().plan_for_goal(3))  # type: ignore[arg-type]


def test_builtin_planner_stages_and_params() -> None:
    context = {"tools": TOOLS, "skills": [SUMMARIZE], "params": {"path": "src"}}
    plan = builtin_plan("list the files and count the lines, then summarize them", context)
    assert [(s.id, s.kind, s.depends_on) for s in plan.steps] == [
        ("list_files", "tool", ()),
        ("count_lines", "tool", ()),
        ("summarize", "skill", ("list_files", "count_lines")),
    ]
    assert plan.steps[0].params == {"path": "src"}
    assert plan.waves()


def test_builtin_planner_skips_tools_it_cannot_fill_and_reports_unmatched() -> None:
    plan = builtin_plan("send an email and dance", {"tools": TOOLS, "params": {}})
    assert plan.steps == ()
    assert plan.metadata["unmatched"] == ["send an email", "dance"]


def test_builtin_planner_without_hierarchy() -> None:
    settings = Settings(enable_hierarchical_planning=False)
    plan = builtin_plan(
        "count lines and list files",
        {"tools": TOOLS, "params": {"path": "."}, "settings": settings},
    )
    assert len(plan.steps) == 1


def test_selector_chooses_the_candidate_tools() -> None:
    seen: dict[str, Any] = {}

    class Planner:
        @hookimpl
        def victor_plan(self, goal: str, context: Mapping[str, Any]) -> None:
            seen.update(context)

    run(make_service(Planner(), selector=True).plan_for_goal("send an email"))
    assert seen["tools"][0].name == "send_email"


def test_execute_runs_waves_and_passes_outputs() -> None:
    service = make_service()
    plan = Plan(
        goal="size",
        steps=[
            PlanStep(id="files", action="list_files", params={"path": "src"}),
            PlanStep(id="lines", action="count_lines", params={"path": "src"}),
            PlanStep(id="sum", action="summarize", kind="skill", depends_on=("files", "lines")),
        ],
    )
    result = run(service.execute(plan))
    assert isinstance(result, PlanResult)
    assert result.ok
    assert result.value == "files=['src/a.py', 'src/b.py'], lines=10"
    assert [(s.id, s.status, s.wave) for s in result.steps] == [
        ("files", "ok", 0),
        ("lines", "ok", 0),
        ("sum", "ok", 1),
    ]
    assert all(s.duration_s >= 0 for s in result.steps)
    assert result.duration_s >= 0


def test_tool_taking_inputs_receives_dependency_outputs() -> None:
    def collect(inputs: dict[str, Any] | None = None) -> Any:
        return inputs

    service = make_service()
    service.executor.registry.register(Tool(name="collect", description="c", func=collect))
    plan = Plan(
        goal="g",
        steps=[
            PlanStep(id="lines", action="count_lines", params={"path": "."}),
            PlanStep(id="c", action="collect", depends_on="lines"),
        ],
    )
    assert run(service.execute(plan))["c"].value == {"lines": 10}


def test_execute_checks_tools_and_parameters_before_running() -> None:
    service = make_service()
    with pytest.raises(ToolNotFoundError, match="list_file"):
        run(service.execute(Plan(goal="g", steps=[PlanStep(id="a", action="list_file")])))
    with pytest.raises(ToolParameterError, match=r"'list_files'.*missing.*'path'"):
        run(service.execute(Plan(goal="g", steps=[PlanStep(id="a", action="list_files")])))
    with pytest.raises(ChainError, match=r"takes a victor_core.Plan"):
        run(service.execute("plan"))  # type: ignore[arg-type]


def test_parallel_execution_disabled_runs_steps_one_at_a_time() -> None:
    now = peak = 0

    async def work() -> None:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0.002)
        now -= 1

    for enabled, expected in ((True, 3), (False, 1)):
        now = peak = 0
        service = make_service(parallel_execution_enabled=enabled)
        service.executor.registry.register(Tool(name="work", description="w", func=work))
        steps = [PlanStep(id=f"w{i}", action="work") for i in range(3)]
        assert run(service.execute(Plan(goal="g", steps=steps))).ok
        assert peak == expected


def test_execute_task_accepts_plans_steps_and_goals() -> None:
    service = make_service()
    step = PlanStep(id="files", action="list_files", params={"path": "d"})
    by_step = run(service.execute_task(step))
    assert by_step["files"].value == ["d/a.py", "d/b.py"]
    by_plan = run(service.execute_task(Plan(goal="g", steps=[step])))
    assert by_plan.ok
    by_goal = run(service.execute_task("summarize"))
    assert by_goal.metadata["planner"] == "builtin"
    assert by_goal["summarize"].ok
    with pytest.raises(ChainError, match="a task must be"):
        run(service.execute_task(42))


def test_plans_for_several_goals_concurrently() -> None:
    service = make_service()

    async def main() -> list[Plan]:
        return list(await asyncio.gather(*(service.plan_for_goal(f"Task {i}") for i in (1, 2, 3))))

    plans = run(main())
    assert [p.goal for p in plans] == ["Task 1", "Task 2", "Task 3"]
