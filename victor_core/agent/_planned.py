"""The offline planner's part of a turn: plan, run the plan's waves, write the answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from victor_core.agent._events import EventHook, StepFinished, StepStarted
from victor_core.agent._report import describe, jsonable, write_report
from victor_core.agent._results import DEFAULT_PERSONA, StepSummary
from victor_core.exceptions import ChainError, ProviderError, VictorError
from victor_core.models import Persona, Plan, PlanStep, ToolResult, accepts_keyword

if TYPE_CHECKING:
    from victor_core.agent._services import AgentServices
    from victor_core.models import PlanResult, StepResult, Tool

__all__ = ["execute", "plan_doc", "plan_for", "respond", "step_doc", "summary"]


async def plan_for(
    services: AgentServices,
    goal: str,
    *,
    tools: list[Tool],
    skills: list[Any],
    persona: Persona,
    memories: list[dict[str, Any]],
    root: Path,
) -> Plan:
    """The plan for ``goal``: the planning family's, else the best tools needing no parameter."""
    context = {
        "tools": tools,
        "skills": skills,
        "persona": persona,
        "memories": memories,
        "settings": services.settings,
        "workspace": str(root),
        "params": {"path": str(root)},
    }
    # The planning family answers first; the built-in planner when none does.
    plan: Plan = await services.planning().plan_for_goal(goal, context)
    if not plan.steps and plan.metadata.get("no_tool_fits"):
        # The planner found nothing the goal asks for: say so, run nothing.
        closest = plan.metadata.get("closest") or ()
        raise ChainError(
            str(plan.metadata.get("error") or f"no tool fits the goal {goal!r}"),
            steps=tuple(str(name) for name in closest),
        )
    if not plan.steps:
        plan = _fallback_plan(goal, tools)
    plan.waves()  # a cycle or dangling dependency is a clear ChainError
    return plan


@attrs.define(kw_only=True)
class _StepRunner:
    """Runs one step of a plan (a tool or a skill), emitting its start and finish."""

    services: AgentServices
    goal: str
    skills: Mapping[str, Any]
    root: Path
    emit: EventHook
    clock: Callable[[], float]

    async def __call__(self, step: PlanStep, inputs: Mapping[str, Any]) -> ToolResult:
        self.emit(StepStarted(id=step.id, action=step.action, step_kind=step.kind))
        started = self.clock()
        try:
            result = await self._run(step, inputs)
        except VictorError as exc:
            result = ToolResult(
                name=step.action,
                ok=False,
                error=str(exc),
                duration_s=self.clock() - started,
                error_type=type(exc).__name__,
            )
        self.emit(
            StepFinished(
                id=step.id,
                action=step.action,
                status=_status(result),
                ms=result.duration_s * 1000.0,
                error=result.error,
            )
        )
        return result

    async def _run(self, step: PlanStep, inputs: Mapping[str, Any]) -> ToolResult:
        services = self.services
        if step.kind == "skill":
            skill = self.skills.get(step.action)
            if skill is None:
                raise ChainError(
                    f"unknown skill {step.action!r}; known skills: "
                    + (", ".join(sorted(self.skills)) or "none"),
                    steps=(step.id,),
                )
            params = with_workspace(dict(step.params), skill.func, self.root)
            result: ToolResult = await services.skills().run_step(
                skill, attrs.evolve(step, params=params), inputs, self.goal
            )
            return result
        tool = services.tools().get(step.action)
        params = with_workspace(dict(step.params), tool, self.root)
        if inputs and accepts_keyword(tool, "inputs"):
            params["inputs"] = dict(inputs)
        result = await services.executor().execute(step.action, **params)
        return result


async def execute(
    services: AgentServices,
    plan: Plan,
    skills: Mapping[str, Any],
    root: Path,
    emit: EventHook,
    *,
    clock: Callable[[], float],
) -> PlanResult:
    """Run the plan's dependency waves (independent steps in parallel when enabled)."""
    registry = services.tools()
    executor = services.executor()
    await registry.ensure_loaded()
    run_step = _StepRunner(
        services=services, goal=plan.goal, skills=skills, root=root, emit=emit, clock=clock
    )
    outcome: PlanResult = await executor.execute_plan(
        plan, run_step, parallel=bool(services.settings.parallel_execution_enabled)
    )
    return outcome


async def respond(
    complete: Callable[..., Awaitable[str]],
    settings: Any,
    goal: str,
    persona: Persona,
    *,
    result: PlanResult,
    memories: int,
    use_cache: bool,
    use_provider: bool,
) -> tuple[str, str, ProviderError | None]:
    """The report, who wrote it, and the provider's failure if it failed."""
    report = write_report(persona, goal, result.steps, memories=memories)
    if not (settings.provider and use_provider):
        return report, "persona", None
    messages = [
        {"role": "system", "content": persona.system_prompt or DEFAULT_PERSONA.system_prompt},
        {
            "role": "user",
            "content": f"Goal: {goal}\n\nTool results:\n{report}\n\n"
            "Write the answer to the goal from these results.",
        },
    ]
    try:
        answer = await complete(messages, use_cache=use_cache)
    except ProviderError as exc:
        return report, "persona", exc
    return answer, "provider", None


def with_workspace(params: dict[str, Any], target: Any, root: Path) -> dict[str, Any]:
    """``params`` with ``path`` set to the workspace when the tool or skill takes one."""
    if "path" not in params and accepts_keyword(target, "path"):
        params["path"] = str(root)
    return params


def _fallback_plan(goal: str, tools: Sequence[Tool]) -> Plan:
    """The plan used when no planner answers: the best tools that need no parameter."""
    free = [t for t in tools if not (t.parameters or {}).get("required")][:3]
    return Plan(
        goal=goal,
        steps=[PlanStep(id=t.name, action=t.name) for t in free],  # type: ignore[misc]  # attrs converter typing
        metadata={"planner": "agent-fallback"},
    )


def _status(result: ToolResult) -> str:
    if result.ok:
        return "ok"
    return "timeout" if result.error_type == "ToolTimeoutError" else "failed"


def summary(step: StepResult) -> StepSummary:
    """The :class:`StepSummary` of an executed step."""
    return StepSummary(
        id=step.id,
        action=step.action,
        kind=step.kind,
        status=step.status,
        duration_ms=step.duration_s * 1000.0,
        summary=describe(step)[0],
        error=step.error,
        wave=step.wave,
    )


def step_doc(step: PlanStep) -> dict[str, Any]:
    """A plan step as a JSON-serialisable dict."""
    return {
        "id": step.id,
        "action": step.action,
        "kind": step.kind,
        "params": jsonable(dict(step.params)),
        "depends_on": list(step.depends_on),
    }


def plan_doc(plan: Plan | None, result: PlanResult | None) -> dict[str, Any]:
    """The plan and its waves as a dict (``planner: model`` when the model drove)."""
    if plan is None or result is None:
        return {"steps": [], "waves": [], "metadata": {"planner": "model"}}
    return {
        "steps": [step_doc(s) for s in plan.steps],
        "waves": [list(w) for w in result.waves],
        "metadata": jsonable(dict(plan.metadata)),
    }
