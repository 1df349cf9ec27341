"""The plan runner: a :class:`~victor_core.Plan` run in dependency waves.

One runner for every plan victor-core runs, whether planned for a goal
(``planning.execute``) or a skill chain (``skills.execute_chain``):

* :func:`run_waves` is the wave engine: the steps of a wave run once the
  previous waves are done, at most ``workers`` at once; a step whose
  dependency did not succeed is ``"skipped"``; every step gets a
  :class:`~victor_core.StepResult` with its status, value and time;
* :func:`step_params` and :func:`skill_kwargs` say what a tool step and a
  skill step receive (their ``params`` and the outputs of their
  dependencies), so every caller passes the same arguments.

:meth:`ToolExecutor.run_plan <victor_core.execution.ToolExecutor.run_plan>`
puts them together with the executor: tool steps run through its backend
(with metrics and the ``victor_tool_result`` hook), skill steps through
:meth:`~victor_core.execution.ToolExecutor.call`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from victor_core.execution._backend import run_bounded
from victor_core.models import (
    Plan,
    PlanResult,
    PlanStep,
    Skill,
    StepResult,
    Tool,
    ToolResult,
    accepts_keyword,
    keyword_names,
)

__all__ = ["StepRunner", "run_waves", "skill_kwargs", "step_params", "step_status"]

#: ``async run_step(step, inputs) -> ToolResult`` - how one step runs; ``inputs``
#: maps the ids of the step's dependencies to their values.
StepRunner = Callable[[PlanStep, dict[str, Any]], Awaitable[ToolResult]]


def step_status(result: ToolResult) -> str:
    """``"ok"``, ``"timeout"`` or ``"failed"`` for a step that ran."""
    if result.ok:
        return "ok"
    return "timeout" if result.error_type == "ToolTimeoutError" else "failed"


def step_params(tool: Tool, step: PlanStep, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What a tool step passes its tool: the step's ``params``, plus ``inputs``
    (dependency id -> output) when there are some and the tool takes them."""
    params = dict(step.params)
    if inputs and accepts_keyword(tool, "inputs"):
        params.setdefault("inputs", dict(inputs))
    return params


def skill_kwargs(
    skill: Skill, step: PlanStep, inputs: Mapping[str, Any], goal: str
) -> dict[str, Any]:
    """The keyword arguments a skill step gets.

    The step's ``params``; ``inputs`` (dependency id -> output) when the
    function takes ``inputs`` or ``**kwargs``; each dependency's output under
    its id when the function has a parameter of that name; and ``goal`` when
    it takes ``goal`` and the step does not set it.
    """
    names, open_ = keyword_names(skill.func)
    kwargs = dict(step.params)
    if "inputs" in names or open_:
        kwargs.setdefault("inputs", dict(inputs))
    for dep_id, value in inputs.items():
        if dep_id in names:
            kwargs.setdefault(dep_id, value)
    if "goal" in names:
        kwargs.setdefault("goal", goal)
    return kwargs


def _skipped(step: PlanStep, blocked: list[str], wave: int) -> StepResult:
    return StepResult(
        id=step.id,
        action=step.action,
        kind=step.kind,
        status="skipped",
        error=f"skipped: dependency {', '.join(map(repr, blocked))} failed",
        error_type="SkippedStep",
        wave=wave,
    )


async def run_waves(
    plan: Plan,
    run_step: StepRunner,
    *,
    workers: int,
    inputs: Mapping[str, Any] | None = None,
) -> PlanResult:
    """Run ``plan``'s steps in dependency waves with ``run_step`` (see the module doc).

    Raises:
        ChainError: the plan has a cycle, a missing dependency or duplicate ids.
    """
    waves = plan.waves()
    base = dict(inputs or {})
    done: dict[str, StepResult] = {}
    start = time.perf_counter()

    async def one(step: PlanStep, wave: int) -> StepResult:
        step_inputs = {**base, **{dep: done[dep].value for dep in step.depends_on}}
        result = await run_step(step, step_inputs)
        return StepResult(
            id=step.id,
            action=step.action,
            kind=step.kind,
            status=step_status(result),
            value=result.value,
            error=result.error,
            error_type=result.error_type,
            duration_s=result.duration_s,
            wave=wave,
        )

    for index, wave in enumerate(waves):
        runnable: list[PlanStep] = []
        for step in wave:
            blocked = [dep for dep in step.depends_on if not done[dep].ok]
            if blocked:
                done[step.id] = _skipped(step, blocked, index)
            else:
                runnable.append(step)
        outcomes = await run_bounded([_bind_step(one, step, index) for step in runnable], workers)
        for outcome in outcomes:
            done[outcome.id] = outcome
    return PlanResult(
        goal=plan.goal,
        steps=tuple(done[step.id] for step in plan.steps),
        duration_s=time.perf_counter() - start,
        waves=tuple(tuple(step.id for step in wave) for wave in waves),
        metadata=plan.metadata,
    )


def _bind_step(
    func: Callable[[PlanStep, int], Awaitable[StepResult]], step: PlanStep, wave: int
) -> Callable[[], Awaitable[StepResult]]:
    def thunk() -> Awaitable[StepResult]:
        return func(step, wave)

    return thunk
