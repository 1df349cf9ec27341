"""Skills and skill chains.

:class:`SkillService` gathers the :class:`~victor_core.Skill` objects of the
``skills`` hook family, plans chains of them and runs the chains::

    chain = await orchestrator.skills.plan_chain(
        goal="Run multiple analyses",
        skills=[skill1, skill2, "repo_overview"],
        execution_strategy="parallel",
    )
    result = await orchestrator.skills.execute_chain(chain)
    result.ok, result.outputs, result["repo_overview"].duration_s

A chain is a :class:`~victor_core.Plan` whose steps have ``kind="skill"``. It
runs in dependency waves (the one plan runner,
:meth:`~victor_core.execution._executor.ToolExecutor.run_plan`):
independent steps run concurrently, at most ``max_parallel_workers`` at once,
or one at a time when ``skill_chaining_parallel_enabled`` is False. A step
receives the outputs of the steps it depends on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from victor_core.exceptions import ArgumentTypeError, ChainError
from victor_core.execution._plan import skill_kwargs
from victor_core.execution._tools import flatten_hook_results
from victor_core.models import Plan, PlanResult, PlanStep, Skill, ToolResult, keyword_names

if TYPE_CHECKING:
    from victor_core.execution._executor import ToolExecutor
    from victor_core.plugins import PluginManager
    from victor_core.settings import Settings

__all__ = ["STRATEGIES", "SkillService", "call_skill_kwargs"]

#: Accepted values of ``execution_strategy``.
STRATEGIES = ("auto", "parallel", "sequential")


def _signature(func: Any) -> tuple[frozenset[str], bool]:
    """Keyword names ``func`` accepts, and whether it takes ``**kwargs``."""
    return keyword_names(func)


#: The keyword arguments a skill gets in a chain (see
#: :func:`victor_core.execution._plan.skill_kwargs`).
call_skill_kwargs = skill_kwargs


class SkillService:
    """Skills from the ``skills`` family, chains of them, and running chains.

    Args:
        plugin_manager: dispatches ``victor_skills`` (None: inline skills only).
        settings: ``skill_chaining_parallel_enabled``, ``max_parallel_workers``
            and ``tool_execution_timeout`` (a skill's time limit too).
        executor: the :class:`~victor_core.execution._executor.ToolExecutor` that runs steps.
    """

    def __init__(
        self, plugin_manager: PluginManager | None, settings: Settings, executor: ToolExecutor
    ) -> None:
        self.plugin_manager = plugin_manager
        self.settings = settings
        self.executor = executor
        self._plugin_skills: dict[str, Skill] = {}
        self._inline: dict[str, Skill] = {}
        self._loaded = plugin_manager is None

    # -- the registry -----------------------------------------------------------------

    async def load(self, *, reload: bool = False) -> None:
        """Gather the skills of the ``skills`` family (once; again with ``reload=True``).

        When two plugins provide a skill of the same name, the one pluggy calls
        first wins (as for tools).

        Raises:
            PluginValidationError: a plugin returned something that is not a Skill.
        """
        if self.plugin_manager is None or (self._loaded and not reload):
            return
        results = await self.plugin_manager.ahook.victor_skills()
        skills = flatten_hook_results(results, Skill, "victor_skills")
        self._plugin_skills = {skill.name: skill for skill in reversed(skills)}
        self._loaded = True

    def register(self, skill: Skill) -> Skill:
        """Add ``skill`` (replacing one of the same name) and return it.

        Raises:
            ArgumentTypeError: not a :class:`~victor_core.Skill`.
        """
        if not isinstance(skill, Skill):
            raise ArgumentTypeError(
                f"register() takes a victor_core.Skill (got {skill!r})",
                argument="skill",
                value=skill,
            )
        self._inline[skill.name] = skill
        return skill

    async def get_skills(self) -> dict[str, Skill]:
        """Every known skill by name (plugin skills load on first call)."""
        await self.load()
        return {**self._plugin_skills, **self._inline}

    async def get(self, name: str) -> Skill:
        """The skill called ``name``.

        Raises:
            ChainError: no such skill; the message names close matches.
        """
        skills = await self.get_skills()
        skill = skills.get(name)
        if skill is None:
            raise self._unknown([name], skills)
        return skill

    @staticmethod
    def _unknown(names: Sequence[str], known: Mapping[str, Skill]) -> ChainError:
        import difflib

        hints = []
        for name in names:
            close = difflib.get_close_matches(name, list(known), n=1)
            if close:
                hints.append(f"{name!r} (did you mean {close[0]!r}?)")
            else:
                hints.append(repr(name))
        listed = ", ".join(map(repr, sorted(known))) or "none"
        return ChainError(
            f"unknown skill(s) {', '.join(hints)}; known skills: {listed}", steps=tuple(names)
        )

    # -- chains -----------------------------------------------------------------------

    async def plan_chain(
        self,
        goal: str,
        skills: Sequence[Any] | None = None,
        execution_strategy: str = "auto",
        *,
        params: Mapping[str, Any] | None = None,
    ) -> Plan:
        """Build a chain (a :class:`~victor_core.Plan` of skill steps) for ``goal``.

        Args:
            goal: what the chain achieves, in words.
            skills: :class:`~victor_core.Skill` objects, skill names, or dicts
                ``{"skill": skill or name, "id": ..., "params": {...},
                "depends_on": [ids]}``; None: every known skill.
            execution_strategy: ``"sequential"`` (each step after the previous
                one, receiving its output), ``"parallel"`` (only declared
                dependencies: dict ``depends_on`` and :attr:`Skill.depends_on`)
                or ``"auto"`` (declared dependencies, plus a step whose
                function has a parameter named after another step of the
                chain depends on that step; everything else in parallel).
            params: keyword parameters given to every step whose skill accepts them.

        Returns:
            The chain, validated (its :meth:`~victor_core.Plan.waves` succeed).

        Raises:
            ChainError: an unknown strategy or skill, a cycle or a dependency
                on a step not in the chain; the message names the steps.
        """
        if execution_strategy not in STRATEGIES:
            raise ChainError(
                f"execution_strategy must be one of {', '.join(map(repr, STRATEGIES))} "
                f"(got {execution_strategy!r})"
            )
        known = await self.get_skills()
        entries = self._entries(list(known.values()) if skills is None else list(skills), known)
        ids = _step_ids(entries)
        # Skill names resolve to the first step running that skill.
        by_name: dict[str, str] = {}
        for entry, step_id in zip(entries, ids, strict=True):
            by_name.setdefault(entry.skill.name, step_id)
        steps = [
            _chain_step(
                entry,
                index,
                ids=ids,
                by_name=by_name,
                strategy=execution_strategy,
                params=params or {},
            )
            for index, entry in enumerate(entries)
        ]
        adhoc = {e.skill.name: e.skill for e in entries if known.get(e.skill.name) is not e.skill}
        plan = Plan(
            goal=goal,
            steps=steps,
            metadata={"planner": "skills", "strategy": execution_strategy, "skills": adhoc},
        )
        plan.waves()  # reject cycles and missing dependencies now
        return plan

    def _entries(self, items: list[Any], known: Mapping[str, Any]) -> list[_ChainEntry]:
        """The chain's entries; raises :class:`ChainError` naming every unknown skill."""
        entries: list[_ChainEntry] = []
        unknown: list[str] = []
        for item in items:
            entry = _chain_entry(item, known)
            if isinstance(entry, str):
                unknown.append(entry)
            else:
                entries.append(entry)
        if unknown:
            raise self._unknown(unknown, known)
        return entries

    async def execute_chain(
        self, chain: Plan, *, inputs: Mapping[str, Any] | None = None
    ) -> PlanResult:
        """Run ``chain`` in dependency waves and return every step's result.

        A step that raises or times out is ``"failed"``/``"timeout"``; the steps
        depending on it are ``"skipped"``; the others run.

        Args:
            chain: a plan from :meth:`plan_chain` (or any plan of skill steps).
            inputs: values every step's ``inputs`` starts from.

        Raises:
            ChainError: a cycle, a missing dependency, an unknown skill, or a
                step that is not a skill step.
        """
        if not isinstance(chain, Plan):
            raise ChainError(f"execute_chain() takes a chain from plan_chain() (got {chain!r})")
        not_skills = [step.id for step in chain.steps if step.kind != "skill"]
        if not_skills:
            raise ChainError(
                f"a skill chain holds skill steps only; steps {', '.join(map(repr, not_skills))} "
                "are tool steps (run the plan with planning.execute())",
                steps=tuple(not_skills),
            )
        chain.waves()
        resolved = await self.resolve(chain)
        return await self.executor.run_plan(
            chain,
            skills=resolved,
            parallel=bool(self.settings.skill_chaining_parallel_enabled),
            inputs=inputs,
        )

    async def resolve(self, plan: Plan) -> dict[str, Skill]:
        """The skill of every skill step of ``plan``, by name.

        Raises:
            ChainError: skills that are not known; the message names them.
        """
        known = await self.get_skills()
        adhoc = plan.metadata.get("skills") or {}
        found: dict[str, Skill] = {}
        missing: list[str] = []
        for step in plan.steps:
            if step.kind != "skill" or step.action in found:
                continue
            skill = adhoc.get(step.action) or known.get(step.action)
            if skill is None:
                missing.append(step.action)
            else:
                found[step.action] = skill
        if missing:
            raise self._unknown(missing, known)
        return found

    async def run_step(
        self, skill: Skill, step: PlanStep, inputs: Mapping[str, Any], goal: str
    ) -> ToolResult:
        """Run one skill step (under ``tool_execution_timeout``) and return its result."""
        return await self.executor.run_step(step, inputs, goal, skills={step.action: skill})


# -- building a chain -----------------------------------------------------------------------


class _ChainEntry(NamedTuple):
    """One item of a chain, resolved: the skill and what the caller said about its step."""

    skill: Skill
    step_id: str | None
    params: dict[str, Any]
    declared: tuple[str, ...] | None


def _chain_entry(item: Any, known: Mapping[str, Skill]) -> _ChainEntry | str:
    """``item`` (a Skill, a skill name or a ``{"skill": ...}`` dict) resolved; a name not known.

    Raises:
        ChainError: a dict without ``"skill"``, or something that is not a skill at all.
    """
    step_id: str | None = None
    step_params: dict[str, Any] = {}
    declared: tuple[str, ...] | None = None
    target: Any = item
    if isinstance(item, Mapping):
        if "skill" not in item:
            raise ChainError(f"a chain item given as a dict needs a 'skill' key (got {item!r})")
        step_id = item.get("id")
        step_params = dict(item.get("params") or {})
        raw = item.get("depends_on")
        declared = None if raw is None else tuple([raw] if isinstance(raw, str) else raw)
        target = item["skill"]
    if isinstance(target, str):
        found = known.get(target)
        if found is None:
            return target
        target = found
    if not isinstance(target, Skill):
        raise ChainError(
            f"skills must be Skill objects, skill names or {{'skill': ...}} dicts (got {target!r})"
        )
    return _ChainEntry(target, step_id, step_params, declared)


def _step_ids(entries: Sequence[_ChainEntry]) -> list[str]:
    """Unique step ids: the given id or the skill's name, numbered from ``_2`` on repeats."""
    ids: list[str] = []
    for entry in entries:
        base = entry.step_id or entry.skill.name
        candidate, n = base, 2
        while candidate in ids:
            candidate, n = f"{base}_{n}", n + 1
        ids.append(candidate)
    return ids


def _chain_step(
    entry: _ChainEntry,
    index: int,
    *,
    ids: Sequence[str],
    by_name: Mapping[str, str],
    strategy: str,
    params: Mapping[str, Any],
) -> PlanStep:
    """The plan step of ``entry``, the ``index``-th of the chain, with its dependencies."""
    skill, step_id = entry.skill, ids[index]
    deps: list[str] = []
    if strategy == "sequential" and index:
        deps.append(ids[index - 1])
    wanted = [*(entry.declared or ()), *skill.depends_on]
    accepted_names, open_ = _signature(skill.func)
    if strategy == "auto":
        wanted += [other for other in ids if other != step_id and other in accepted_names]
    for dep in wanted:
        resolved = dep if dep in ids else by_name.get(dep, dep)
        if resolved not in deps and resolved != step_id:
            deps.append(resolved)
    merged = {k: v for k, v in params.items() if open_ or k in accepted_names}
    merged.update(entry.params)
    return PlanStep(
        id=step_id,
        action=skill.name,
        kind="skill",
        params=merged,
        depends_on=tuple(deps),
        description=skill.description,
    )
