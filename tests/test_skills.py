"""Skills: gathering, chain planning (strategies, dependencies), chain execution."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from victor_core._markers import hookimpl
from victor_core.exceptions import ChainError, PluginValidationError
from victor_core.execution._executor import ToolExecutor
from victor_core.execution._tools import ToolRegistry
from victor_core.models import Plan, PlanStep, Skill
from victor_core.planning._skills import SkillService
from victor_core.plugins import PluginManager
from victor_core.settings import Settings


class Gauge:
    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def hold(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        await asyncio.sleep(0.005)
        self.now -= 1


def make_service(*plugins: Any, **settings: Any) -> SkillService:
    config = Settings(**settings)
    pm = PluginManager(config, discover=False, builtins=False)
    for plugin in plugins:
        pm.register(plugin)
    return SkillService(pm, config, ToolExecutor(config, ToolRegistry(pm)))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def count_lines(path: str = ".") -> int:
    return 42


def summarize(count_lines: int, style: str = "short") -> str:
    return f"{count_lines} lines ({style})"


def report(inputs: dict[str, Any]) -> dict[str, Any]:
    return dict(inputs)


def fail() -> None:
    raise RuntimeError("skill broke")


COUNT = Skill(name="count_lines", description="Count lines of code", func=count_lines)
SUMMARIZE = Skill(name="summarize", description="Summarize counts", func=summarize)
REPORT = Skill(name="report", description="Report", func=report, depends_on=("count_lines",))
FAIL = Skill(name="fail", description="Fails", func=fail)


class SkillsPlugin:
    @hookimpl
    def victor_skills(self) -> list[Skill]:
        return [COUNT, SUMMARIZE]


def test_skills_come_from_the_family_and_inline_registration() -> None:
    service = make_service(SkillsPlugin())
    service.register(REPORT)
    skills = run(service.get_skills())
    assert sorted(skills) == ["count_lines", "report", "summarize"]
    assert run(service.get("summarize")) is SUMMARIZE
    with pytest.raises(ChainError, match=r"unknown skill.*'sumarize' \(did you mean 'summarize'"):
        run(service.get("sumarize"))
    with pytest.raises(TypeError, match="Skill"):
        service.register("x")  # type: ignore[arg-type]


def test_plugin_returning_a_non_skill_is_rejected() -> None:
    class Bad:
        @hookimpl
        def victor_skills(self) -> list[Any]:
            return [object()]

    with pytest.raises(PluginValidationError, match="victor_skills"):
        run(make_service(Bad()).get_skills())


def test_parallel_strategy_runs_independent_skills_at_once() -> None:
    gauge = Gauge()

    async def work(n: int = 0) -> int:
        await gauge.hold()
        return n

    skills = [Skill(name=f"s{i}", description="work", func=work) for i in range(4)]
    service = make_service()
    chain = run(service.plan_chain("many", skills, "parallel", params={"n": 7}))
    assert all(step.depends_on == () for step in chain.steps)
    result = run(service.execute_chain(chain))
    assert result.ok
    assert result.outputs == {"s0": 7, "s1": 7, "s2": 7, "s3": 7}
    assert result.waves == (("s0", "s1", "s2", "s3"),)
    assert gauge.peak == 4


def test_concurrency_is_bounded_by_max_parallel_workers() -> None:
    gauge = Gauge()

    async def work() -> None:
        await gauge.hold()

    skills = [Skill(name=f"s{i}", description="w", func=work) for i in range(6)]
    service = make_service(max_parallel_workers=2)
    run(service.execute_chain(run(service.plan_chain("g", skills, "parallel"))))
    assert gauge.peak == 2


def test_chaining_parallel_disabled_runs_one_at_a_time() -> None:
    gauge = Gauge()

    async def work() -> None:
        await gauge.hold()

    skills = [Skill(name=f"s{i}", description="w", func=work) for i in range(3)]
    service = make_service(skill_chaining_parallel_enabled=False)
    result = run(service.execute_chain(run(service.plan_chain("g", skills, "parallel"))))
    assert result.ok
    assert gauge.peak == 1


def test_sequential_strategy_chains_outputs() -> None:
    def first() -> int:
        return 1

    def add_one(inputs: dict[str, Any]) -> int:
        (value,) = inputs.values()
        return value + 1

    service = make_service()
    steps = [
        Skill(name="first", description="one", func=first),
        Skill(name="add_one", description="+1", func=add_one),
        {"skill": Skill(name="add_one", description="+1", func=add_one)},
    ]
    chain = run(service.plan_chain("count up", steps, "sequential"))
    assert [(s.id, s.depends_on) for s in chain.steps] == [
        ("first", ()),
        ("add_one", ("first",)),
        ("add_one_2", ("add_one",)),
    ]
    result = run(service.execute_chain(chain))
    assert result.value == 3
    assert [s.wave for s in result.steps] == [0, 1, 2]


def test_auto_strategy_infers_dependencies_from_parameter_names() -> None:
    service = make_service(SkillsPlugin())
    chain = run(service.plan_chain("summarize the code size", ["summarize", "count_lines"], "auto"))
    assert {s.id: s.depends_on for s in chain.steps} == {
        "summarize": ("count_lines",),
        "count_lines": (),
    }
    result = run(service.execute_chain(chain))
    assert result["summarize"].value == "42 lines (short)"
    assert result.waves == (("count_lines",), ("summarize",))
    # "parallel" does not infer: summarize then misses its argument and fails.
    flat = run(service.execute_chain(run(service.plan_chain("g", ["summarize"], "parallel"))))
    assert flat["summarize"].status == "failed"
    assert "count_lines" in (flat["summarize"].error or "")


def test_declared_dependencies_are_honoured_and_inputs_passed() -> None:
    service = make_service(SkillsPlugin())
    chain = run(service.plan_chain("g", [REPORT, "count_lines"], "parallel"))
    result = run(service.execute_chain(chain))
    assert result["report"].value == {"count_lines": 42}


def test_missing_dependency_and_cycles_are_rejected_naming_steps() -> None:
    service = make_service(SkillsPlugin())
    with pytest.raises(ChainError, match=r"'report' depends on missing step.*'count_lines'"):
        run(service.plan_chain("g", [REPORT], "auto"))
    a = Skill(name="a", description="a", func=report, depends_on="b")
    b = Skill(name="b", description="b", func=report, depends_on="a")
    with pytest.raises(ChainError, match="cycle among steps 'a', 'b'") as info:
        run(service.plan_chain("g", [a, b], "parallel"))
    assert info.value.steps == ("a", "b")


def test_bad_strategy_items_and_unknown_skills() -> None:
    service = make_service(SkillsPlugin())
    with pytest.raises(ChainError, match="execution_strategy must be one of 'auto'"):
        run(service.plan_chain("g", [COUNT], "fastest"))
    with pytest.raises(ChainError, match=r"unknown skill.*'nope'"):
        run(service.plan_chain("g", ["nope", "count_lines"]))
    with pytest.raises(ChainError, match="'skill' key"):
        run(service.plan_chain("g", [{"id": "x"}]))
    with pytest.raises(ChainError, match="Skill objects, skill names"):
        run(service.plan_chain("g", [3]))


def test_explicit_ids_params_and_dependencies_in_dicts() -> None:
    service = make_service(SkillsPlugin())
    chain = run(
        service.plan_chain(
            "g",
            [
                {"skill": "count_lines", "id": "lines"},
                {"skill": "summarize", "params": {"style": "long"}, "depends_on": "lines"},
            ],
            "parallel",
        )
    )
    result = run(service.execute_chain(chain))
    assert result.waves == (("lines",), ("summarize",))
    # The dependency's output reaches the skill through ``inputs`` only (its id is "lines").
    assert result["summarize"].status == "failed"


def test_failure_skips_dependants_but_not_the_others() -> None:
    service = make_service(SkillsPlugin())
    after = Skill(name="after", description="a", func=report, depends_on="fail")
    chain = run(service.plan_chain("g", [FAIL, after, COUNT], "auto"))
    result = run(service.execute_chain(chain))
    assert result["fail"].status == "failed"
    assert result["fail"].error == "RuntimeError: skill broke"
    assert result["after"].status == "skipped"
    assert result["count_lines"].value == 42
    assert not result.ok


def test_skill_timeout() -> None:
    async def hang() -> None:
        await asyncio.sleep(30)

    service = make_service(tool_execution_timeout=0.02)
    skill = Skill(name="hang", description="h", func=hang)
    result = run(service.execute_chain(run(service.plan_chain("g", [skill]))))
    assert result["hang"].status == "timeout"


def test_goal_keyword_and_all_skills_by_default() -> None:
    def echo_goal(goal: str) -> str:
        return goal

    service = make_service()
    service.register(Skill(name="echo_goal", description="e", func=echo_goal))
    result = run(service.execute_chain(run(service.plan_chain("the goal"))))
    assert result["echo_goal"].value == "the goal"


def test_execute_chain_rejects_tool_steps_and_unknown_skills() -> None:
    service = make_service()
    with pytest.raises(ChainError, match="tool steps"):
        run(service.execute_chain(Plan(goal="g", steps=[PlanStep(id="t", action="read")])))
    with pytest.raises(ChainError, match="unknown skill"):
        run(
            service.execute_chain(
                Plan(goal="g", steps=[PlanStep(id="s", action="x", kind="skill")])
            )
        )
    with pytest.raises(ChainError, match="plan_chain"):
        run(service.execute_chain("not a chain"))  # type: ignore[arg-type]
