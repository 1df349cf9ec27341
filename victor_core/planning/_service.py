"""Planning: turning a goal into a :class:`~victor_core.Plan`, and running plans.

:meth:`PlanningService.plan_for_goal` asks the ``planning`` family
(``victor_plan(goal, context)``, first result wins) and falls back to the
built-in planner. :meth:`PlanningService.execute` runs a plan's steps in
dependency waves, tools through the executor and skills through the skill
service, passing every step the outputs of the steps it depends on.

The built-in planner splits the goal into sub-goals (when
``enable_hierarchical_planning`` is on): ``"then"``, ``";"``, new lines and
sentence ends separate stages that run one after the other; ``"and"`` and
commas separate parts of a stage that run in parallel. Each part becomes a
step running the tool or skill whose name and description match it best,
among the tools the selector chose and the known skills; a part that matches
nothing is listed in ``plan.metadata["unmatched"]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import ArgumentTypeError, ChainError, PluginValidationError
from victor_core.models import Plan, PlanResult, PlanStep, Skill, Tool, accepts_keyword

if TYPE_CHECKING:
    from victor_core.execution._executor import ToolExecutor
    from victor_core.planning._skills import SkillService
    from victor_core.plugins import PluginManager
    from victor_core.selection._selector import ToolSelector
    from victor_core.settings import Settings

__all__ = ["PlanningService", "builtin_plan", "split_goal"]

_STAGES = re.compile(r"\s*(?:\bthen\b|;|\n+|(?<=[a-z0-9)])\.\s+)\s*", re.IGNORECASE)
_PARTS = re.compile(r"\s*(?:,\s*(?:and\s+)?|\band\b)\s*", re.IGNORECASE)
# Least cosine similarity for a part of a goal to pick a tool or skill.
_MIN_SCORE = 0.12


def split_goal(goal: str, *, hierarchical: bool = True) -> list[list[str]]:
    """Stages of ``goal``, each a list of parts that may run in parallel.

    ``"list files and count lines, then summarize"`` gives
    ``[["list files", "count lines"], ["summarize"]]``; without
    ``hierarchical`` the whole goal is one part.
    """
    text = goal.strip()
    if not hierarchical:
        return [[text]] if text else []
    stages = []
    for stage in _STAGES.split(text):
        parts = [p.strip(" .") for p in _PARTS.split(stage) if p and p.strip(" .")]
        if parts:
            stages.append(parts)
    return stages


def _accepts(
    schema: Mapping[str, Any], params: Mapping[str, Any], supplied: tuple[str, ...]
) -> dict[str, Any] | None:
    """``params`` narrowed to what ``schema`` accepts; None if a required one is missing.

    ``supplied`` names parameters execution fills in itself (``inputs``, ``goal``).
    """
    given = {k: v for k, v in params.items() if accepts_keyword(schema, k)}
    if any(n not in given and n not in supplied for n in schema.get("required", ())):
        return None
    return given


def builtin_plan(goal: str, context: Mapping[str, Any]) -> Plan:
    """The built-in planner (see the module documentation).

    Args:
        goal: the goal in words.
        context: ``tools`` (candidates, best first), ``skills``, ``params``
            (keyword values steps may use, such as ``path``) and ``settings``.
    """
    from victor_core.selection._embedding import HashingEmbedder

    settings = context.get("settings")
    hierarchical = bool(getattr(settings, "enable_hierarchical_planning", True))
    candidates = _candidates(context)
    stages = split_goal(goal, hierarchical=hierarchical)
    embedder = HashingEmbedder()
    vectors = embedder.embed_sparse([c[2] for c in candidates])
    steps: list[PlanStep] = []
    unmatched: list[str] = []
    previous: list[str] = []
    used: set[str] = set()
    for stage in stages:
        current: list[str] = []
        for part in stage:
            best = _best_match(embedder.features(part), vectors)
            if best < 0:
                unmatched.append(part)
                continue
            kind, name, _, params = candidates[best]
            step_id, n = name, 2
            while step_id in used:
                step_id, n = f"{name}_{n}", n + 1
            used.add(step_id)
            steps.append(
                PlanStep(
                    id=step_id,
                    action=name,
                    kind=kind,
                    params=params,
                    depends_on=tuple(previous),
                    description=part,
                )
            )
            current.append(step_id)
        if current:
            previous = current
    return Plan(
        goal=goal,
        steps=steps,
        metadata={"planner": "builtin", "stages": stages, "unmatched": unmatched},
    )


def _candidates(context: Mapping[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(kind, name, text to match, params) of each tool and skill the context can run."""
    from victor_core.models import signature_schema

    values = dict(context.get("params") or {})
    candidates: list[tuple[str, str, str, dict[str, Any]]] = []
    supplied: tuple[str, ...]
    for item in list(context.get("tools") or ()) + list(context.get("skills") or ()):
        if isinstance(item, Tool):
            kind, schema, supplied = "tool", item.parameters or {}, ("inputs",)
        elif isinstance(item, Skill):
            kind, schema, supplied = "skill", signature_schema(item.func), ("inputs", "goal")
        else:
            continue
        params = _accepts(schema, values, supplied)
        if params is None:
            continue  # it needs a value the context does not have
        name = item.name.replace("_", " ").replace("-", " ")
        candidates.append((kind, item.name, f"{name} {name} {item.description}", params))
    return candidates


def _best_match(query: Mapping[int, float], vectors: Sequence[Mapping[int, float]]) -> int:
    """The index of the vector closest to ``query`` above ``_MIN_SCORE``; -1 for none."""
    best, best_score = -1, _MIN_SCORE
    for i, vector in enumerate(vectors):
        score = sum(value * vector.get(dim, 0.0) for dim, value in query.items())
        if score > best_score:
            best, best_score = i, score
    return best


class PlanningService:
    """Plans goals and runs plans.

    Args:
        plugin_manager: dispatches ``victor_plan`` (None: the built-in planner only).
        settings: ``enable_hierarchical_planning``, ``parallel_execution_enabled``,
            ``max_parallel_workers``.
        executor: runs tool steps (default: one over the ``tools`` family).
        skills: runs skill steps (default: a :class:`~victor_core.planning._skills.SkillService`).
        selector: chooses candidate tools for the planners' context (default:
            every tool, unranked).
    """

    def __init__(
        self,
        plugin_manager: PluginManager | None,
        settings: Settings,
        *,
        executor: ToolExecutor | None = None,
        skills: SkillService | None = None,
        selector: ToolSelector | None = None,
    ) -> None:
        self.plugin_manager = plugin_manager
        self.settings = settings
        self._executor = executor
        self._skills = skills
        self.selector = selector

    @property
    def executor(self) -> ToolExecutor:
        """The executor of tool steps (built on first use when none was given)."""
        if self._executor is None:
            from victor_core.execution._executor import ToolExecutor
            from victor_core.execution._tools import ToolRegistry

            self._executor = ToolExecutor(
                self.settings,
                ToolRegistry(self.plugin_manager),
                plugin_manager=self.plugin_manager,
            )
        return self._executor

    @property
    def skills(self) -> SkillService:
        """The skill service (built on first use when none was given)."""
        if self._skills is None:
            from victor_core.planning._skills import SkillService

            self._skills = SkillService(self.plugin_manager, self.settings, self.executor)
        return self._skills

    # -- planning ---------------------------------------------------------------------

    async def plan_for_goal(self, goal: str, context: Mapping[str, Any] | None = None) -> Plan:
        """A plan for ``goal``: the first ``victor_plan`` answer, else the built-in planner's.

        Args:
            goal: the goal in words.
            context: given to the planners; missing keys are filled in:
                ``tools`` (the selector's choice for the goal, or every tool),
                ``skills`` (every known skill), ``persona`` (None),
                ``memories`` (empty), ``params`` (empty) and ``settings``.

        Raises:
            ChainError: the plan is not a valid DAG.
            PluginValidationError: a planner returned something that is not a Plan.
            ArgumentTypeError: ``goal`` is not a string.
        """
        if not isinstance(goal, str):
            raise ArgumentTypeError(
                f"goal must be a string (got {type(goal).__name__})", argument="goal", value=goal
            )
        ctx = await self.context_for(goal, context)
        answer: Any = None
        if self.plugin_manager is not None:
            answer = await self.plugin_manager.ahook.victor_plan(goal=goal, context=ctx)
        if answer is None:
            plan = builtin_plan(goal, ctx)
        elif isinstance(answer, Plan):
            plan = answer
        else:
            raise PluginValidationError(
                f"victor_plan() must return a victor_core.Plan or None (got {answer!r})",
                hook="victor_plan",
            )
        plan.waves()
        return plan

    async def context_for(
        self, goal: str, context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``context`` completed with the keys planners rely on (see :meth:`plan_for_goal`)."""
        ctx = dict(context or {})
        if "tools" not in ctx:
            if self.selector is not None:
                selection_context: dict[str, Any] = {
                    k: ctx[k] for k in ("persona", "messages", "stage", "task_type") if k in ctx
                }
                ctx["tools"] = await self.selector.aselect_tools(goal, context=selection_context)
            else:
                registry = self.executor.registry
                await registry.ensure_loaded()
                ctx["tools"] = registry.tools()
        if "skills" not in ctx:
            ctx["skills"] = list((await self.skills.get_skills()).values())
        ctx.setdefault("persona", None)
        ctx.setdefault("memories", [])
        ctx.setdefault("params", {})
        ctx.setdefault("settings", self.settings)
        return ctx

    # -- execution --------------------------------------------------------------------

    async def execute(self, plan: Plan, *, inputs: Mapping[str, Any] | None = None) -> PlanResult:
        """Run ``plan``: steps in dependency waves, every step's result with its status and time.

        The one plan runner, :meth:`ToolExecutor.run_plan
        <victor_core.execution.ToolExecutor.run_plan>`, runs it: tool steps get
        the step's ``params`` (plus ``inputs``, the outputs of their
        dependencies, when the tool accepts it); skill steps get what
        :func:`~victor_core.planning._skills.call_skill_kwargs` describes.
        Independent steps run concurrently unless ``parallel_execution_enabled``
        is False.

        Raises:
            ChainError: a cycle, a missing dependency or an unknown skill.
            ToolNotFoundError, ToolParameterError: a tool step names an unknown
                tool or gives it parameters it does not accept (checked before
                anything runs).
        """
        if not isinstance(plan, Plan):
            raise ChainError(f"execute() takes a victor_core.Plan (got {plan!r})")
        plan.waves()
        skills = (
            await self.skills.resolve(plan)
            if any(step.kind == "skill" for step in plan.steps)
            else {}
        )
        return await self.executor.run_plan(
            plan,
            skills=skills,
            parallel=bool(self.settings.parallel_execution_enabled),
            inputs=inputs,
        )

    async def execute_task(self, task: Any) -> PlanResult:
        """Run a task: a :class:`~victor_core.Plan`, a :class:`~victor_core.PlanStep`,
        or a goal string (planned with :meth:`plan_for_goal` first).

        Raises:
            ChainError: ``task`` is none of those, or its plan is invalid.
        """
        if isinstance(task, Plan):
            plan = task
        elif isinstance(task, PlanStep):
            plan = Plan(goal=task.description or task.action, steps=(task,))
        elif isinstance(task, str):
            plan = await self.plan_for_goal(task)
        else:
            raise ChainError(
                "a task must be a victor_core.Plan, a victor_core.PlanStep or a goal string "
                f"(got {type(task).__name__})"
            )
        return await self.execute(plan)
