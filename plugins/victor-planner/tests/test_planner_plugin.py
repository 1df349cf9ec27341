"""Tests of victor-planner with inline tools and skills."""

from __future__ import annotations

from typing import Any

import pytest
from victor_core.models import Persona, Skill, Tool
from victor_core.settings import Settings

from victor_planner import TODO_PATTERN, GoalPlanner, extract_parameters, split_subgoals
from victor_planner.plugin import victor_plan


def _f(**kwargs: Any) -> dict[str, Any]:
    return kwargs


def search(pattern: str, path: str = ".") -> dict[str, Any]:
    return {}


def read(file: str | None = None, path: str = ".", inputs: Any = None) -> dict[str, Any]:
    return {}


def listing(path: str = ".") -> dict[str, Any]:
    return {}


def run_suite(path: str = ".", file: str | None = None) -> dict[str, Any]:
    return {}


def history(path: str = ".") -> dict[str, Any]:
    return {}


def review(path: str = ".", inputs: Any = None) -> dict[str, Any]:
    return {}


TOOLS = [
    Tool(
        name="search_code",
        description="Search the code for a pattern, grep occurrences",
        func=search,
        tags=("produces:files",),
    ),
    Tool(
        name="read_file",
        description="Read and show the contents of a file",
        func=read,
        tags=("consumes:files",),
    ),
    Tool(
        name="list_files",
        description="List the files of the project",
        func=listing,
        tags=("produces:files",),
    ),
    Tool(name="run_tests", description="Run the test suite with pytest", func=run_suite),
    Tool(name="git_log", description="Show recent commits and history", func=history),
]
SKILLS = [
    Skill(
        name="code_review",
        description="Review the code and rank findings",
        func=review,
        tools=("search_code",),
    )
]


def _plan(goal: str, **kwargs: Any) -> Any:
    plan = GoalPlanner(TOOLS, SKILLS, base_params={"path": "/ws"}, **kwargs).plan(goal)
    assert plan is not None
    plan.waves()  # a valid DAG
    return plan


def _actions(plan: Any) -> list[str]:
    return [s.action for s in plan.steps]


def test_split_subgoals() -> None:
    assert split_subgoals("list files and then run the tests") == ["list files", "run the tests"]
    assert split_subgoals("1. list files\n2. run tests\n3. show history") == [
        "list files",
        "run tests",
        "show history",
    ]
    assert split_subgoals("read a.py, then b.py") == ["read a.py", "b.py"]
    assert split_subgoals("just one goal") == ["just one goal"]


def test_extract_parameters() -> None:
    params = extract_parameters("search 'def main' in src/app.py and docs/ then \"x\"")
    assert params["patterns"] == ["def main", "x"]
    assert params["paths"] == ["src/app.py", "docs/"]
    assert extract_parameters("read `README.md`")["paths"] == ["README.md"]
    assert extract_parameters("find the TODOs")["patterns"] == [TODO_PATTERN]
    assert extract_parameters("nothing here") == {"paths": [], "patterns": []}


def test_parameters_flow_into_steps() -> None:
    plan = _plan('search for "def main"')
    step = plan.steps[0]
    assert step.action == "search_code"
    assert step.params == {"pattern": "def main", "path": "/ws"}
    plan = _plan("read the file src/app.py")
    read_step = next(s for s in plan.steps if s.action == "read_file")
    assert read_step.params["file"] == "src/app.py"
    assert read_step.depends_on == ()


def test_consumer_depends_on_producer() -> None:
    plan = _plan('search "TODO" and read the file')
    by_action = {s.action: s for s in plan.steps}
    assert by_action["read_file"].depends_on == (by_action["search_code"].id,)
    waves = [[s.action for s in wave] for wave in plan.waves()]
    assert waves[0][0] == "search_code"


def test_consumer_adds_a_producer_when_missing() -> None:
    plan = _plan("read the file")
    assert _actions(plan) == ["list_files", "read_file"]
    assert plan.steps[1].depends_on == ("list_files",)


def test_tool_with_unfillable_required_param_is_skipped() -> None:
    plan = _plan("search the code")
    assert "search_code" not in _actions(plan)
    assert any(s["action"] == "search_code" for s in plan.metadata["skipped"])


def test_skill_depends_on_its_tools() -> None:
    plan = _plan('review the code, grep for "XXX"')
    by_action = {s.action: s for s in plan.steps}
    assert by_action["code_review"].kind == "skill"
    assert by_action["search_code"].id in by_action["code_review"].depends_on


def test_hierarchical_plan_orders_subgoals() -> None:
    plan = _plan("list the files and then run the tests and then show recent commits")
    assert plan.metadata["hierarchical"] is True
    assert len(plan.metadata["subgoals"]) == 3
    ids = [s.id for s in plan.steps]
    assert ids == ["1.list_files", "2.run_tests", "3.git_log"]
    assert plan.steps[1].depends_on == ("1.list_files",)
    assert plan.steps[2].depends_on == ("2.run_tests",)
    flat = _plan("list the files and then run the tests", hierarchical=False)
    assert flat.metadata["hierarchical"] is False
    assert all(not s.depends_on for s in flat.steps)


def test_repeated_step_is_not_planned_twice() -> None:
    plan = _plan("1. run the tests 2. run the tests again")
    assert _actions(plan) == ["run_tests"]


def test_persona_changes_the_plan() -> None:
    tester = Persona(name="tester", description="t", tool_preferences={"run_tests": 3.0})
    historian = Persona(name="historian", description="h", tool_preferences={"git_log": 3.0})
    assert "git_log" in _actions(_plan("look at the project", persona=historian))
    # A persona's taste never runs the user's code on a goal that does not ask for it.
    assert "run_tests" not in _actions(_plan("look at the project", persona=tester))
    assert "run_tests" in _actions(_plan("look at the project and its tests", persona=tester))
    assert "run_tests" not in _actions(_plan("look at the project", persona=historian))


def test_unmatched_goal_has_no_plan_and_names_the_closest_tools() -> None:
    plan = _plan("zzz qqq")
    assert plan.steps == ()
    assert plan.metadata["no_tool_fits"] is True
    assert plan.metadata["error"].startswith("no tool fits the goal 'zzz qqq'; closest tools: ")
    assert len(plan.metadata["closest"]) == 3
    coffee = _plan("make coffee")
    assert coffee.steps == ()
    assert "no tool fits" in coffee.metadata["error"]


def test_a_tool_running_code_needs_a_goal_asking_for_it() -> None:
    for goal in ("summarise the architecture", "explain the code structure", "check the project"):
        plan = _plan(goal)
        assert "run_tests" not in _actions(plan), goal
        assert "test_health" not in _actions(plan), goal
    assert "run_tests" in _actions(_plan("run the tests"))


def test_a_file_to_review_is_not_the_test_to_run() -> None:
    plan = _plan("review src/app.py and run the tests")
    steps = {s.action: s for s in plan.steps}
    assert "run_tests" in steps
    assert "file" not in steps["run_tests"].params
    plan = _plan("run the tests in tests/test_app.py")
    assert next(s for s in plan.steps if s.action == "run_tests").params["file"] == (
        "tests/test_app.py"
    )


def test_nothing_to_plan_with() -> None:
    assert GoalPlanner([], []).plan("anything") is None


def test_hook_reads_the_context() -> None:
    settings = Settings(enable_hierarchical_planning=False)
    plan = victor_plan(
        "list the files and then run the tests",
        {"tools": TOOLS, "skills": [], "settings": settings, "workspace": "/repo", "persona": None},
    )
    assert plan is not None
    assert plan.metadata["planner"] == "victor-planner"
    assert plan.metadata["hierarchical"] is False
    assert all(s.params["path"] == "/repo" for s in plan.steps)
    assert victor_plan("x", {"tools": []}) is None


@pytest.mark.parametrize("goal", ["", "   ", "and then and then"])
def test_degenerate_goals(goal: str) -> None:
    plan = GoalPlanner(TOOLS, SKILLS).plan(goal)
    assert plan is not None
    assert plan.steps == ()
    assert plan.metadata["no_tool_fits"] is True
