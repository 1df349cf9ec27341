"""The agent loop: one turn from a goal to a report, and chat with a provider.

:meth:`AgentLoop.run` takes a goal through every stage, timing each::

    persona -> recall -> selection -> planning -> execution -> response -> record -> metrics

- **persona**: the ``personas`` family's persona of that name (default
  ``assistant``, or a built-in one when no plugin offers it);
- **recall**: related episodes and facts from memory (never fatal);
- **selection**: the tools best suited to the goal, weighted by the persona (cached);
- **planning**: ``victor_plan(goal, context)``, a DAG over the selected tools and
  the skills; a plan of the best tools needing no parameters when no planner answers;
- **execution**: the plan's dependency waves, independent steps in parallel; a
  failing step is reported and the steps not depending on it still run;
- **response**: the configured provider writes the answer from the results
  (``settings.provider``); without one, or when it fails, the persona writes a
  report from the results itself, in its ``style``;
- **record**: the turn is stored as an episode; **metrics**: run and stage timers.

:meth:`AgentLoop.chat` and :meth:`AgentLoop.stream_chat` answer one message,
through the response cache (keyed by provider, model, messages and
parameters). A cached answer is replayed as a stream; a stream is cached only
once it completed. Without a provider, a built-in offline responder answers:
it names the tools that fit the message and suggests ``victor run``.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from victor_core.agent._events import (
    AgentEvent,
    EventHook,
    PlanReady,
    RunFinished,
    StageFinished,
    StepFinished,
    StepStarted,
)
from victor_core.agent._model import ModelOutcome, ModelRun, ToolCallRecord
from victor_core.exceptions import (
    ChainError,
    PersonaNotFoundError,
    ProviderError,
    SettingsError,
    VictorError,
)
from victor_core.models import Persona, Plan, PlanStep, Skill, ToolResult, accepts_keyword
from victor_core.plugins._manager import flatten_results
from victor_core.providers._types import Usage

if TYPE_CHECKING:
    from victor_core.agent._services import AgentServices, Approver
    from victor_core.models import PlanResult, StepResult, Tool
    from victor_core.providers._registry import Responder

__all__ = ["DEFAULT_PERSONA", "STAGES", "AgentLoop", "RunResult", "StepSummary", "write_report"]

#: The stages of a turn, in order; :attr:`RunResult.timings_ms` has one entry per stage.
STAGES = (
    "persona",
    "recall",
    "selection",
    "planning",
    "execution",
    "response",
    "record",
    "metrics",
)

#: The persona used when none is named and no plugin offers ``assistant``.
DEFAULT_PERSONA = Persona(
    name="assistant",
    description="A general helper: picks tools by relevance and answers briefly.",
    system_prompt="You are a helpful assistant for a software project. Answer from the tool "
    "results you are given.",
    style="concise",
)


@attrs.define(frozen=True, kw_only=True)
class StepSummary:
    """One executed step: what ran, how it went, how long it took.

    ``id`` is the plan's step id; ``action`` the tool or skill it ran, also
    given as ``name``; ``status`` is ``ok``, ``failed``, ``timeout`` or ``skipped``.
    """

    id: str
    action: str
    kind: str
    status: str
    duration_ms: float
    summary: str = ""
    error: str | None = None
    wave: int = 0

    @property
    def name(self) -> str:
        """The tool or skill the step ran (its ``action``)."""
        return self.action

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, plus ``name`` and ``duration_s``."""
        doc = attrs.asdict(self)
        doc["name"] = self.action
        doc["duration_s"] = self.duration_ms / 1000.0
        return doc


@attrs.define(kw_only=True)
class RunResult:
    """The outcome of :meth:`AgentLoop.run`.

    ``mode`` is ``"model"`` (the model called the tools) or ``"planner"`` (the
    offline planner planned; a text-only provider, if any, wrote the answer).
    ``answer`` is the model's final text (the report without a model);
    ``tool_calls`` the model's tool calls, ``turns`` its turns, ``usage`` the
    tokens the server reported. ``status`` is ``"completed"``, the budget that
    stopped the run (``"agent_max_turns"``, ``"agent_max_tool_calls"``,
    ``"agent_max_tokens"``) or ``"provider_error"``. ``ok``: the run completed
    and, with the planner, every step succeeded. ``errors`` lists what went
    wrong (a failed step, memory or provider trouble, the budget reached).
    ``outputs`` maps step (or call) ids to their values (left out of
    :meth:`to_dict` unless asked, since they can be large).
    """

    goal: str
    persona: str
    path: str
    steps: list[StepSummary]
    report: str
    response_source: str
    timings_ms: dict[str, float]
    total_ms: float
    cache: dict[str, Any]
    plan: dict[str, Any]
    memories: int = 0
    errors: list[str] = attrs.field(factory=list)
    outputs: dict[str, Any] = attrs.field(factory=dict, repr=False)
    mode: str = "planner"
    answer: str = ""
    tool_calls: list[ToolCallRecord] = attrs.field(factory=list)
    turns: int = 0
    usage: Usage = attrs.field(factory=Usage)
    status: str = "completed"

    @property
    def ok(self) -> bool:
        """Whether the run completed (and, with the planner, every step succeeded)."""
        if self.status != "completed":
            return False
        return self.mode == "model" or all(step.status == "ok" for step in self.steps)

    def to_dict(self, *, outputs: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict of the result (step outputs too when ``outputs``)."""
        doc = attrs.asdict(
            self,
            filter=lambda field, _: field.name not in ("outputs", "tool_calls", "usage"),
        )
        doc["steps"] = [step.to_dict() for step in self.steps]
        doc["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        doc["usage"] = self.usage.to_dict()
        doc["ok"] = self.ok
        if outputs:
            doc["outputs"] = _jsonable(self.outputs)
        return doc


class AgentLoop:
    """Runs agent turns and chats, on the services it is given.

    Args:
        services: the settings, plugin manager and service getters
            (:class:`~victor_core.agent.AgentServices`); each service is built on
            first use.
        clock: a monotonic clock in seconds (tests).
    """

    def __init__(
        self, services: AgentServices, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.services = services
        self.settings = services.settings
        self._clock = clock
        self._personas: dict[str, Persona] | None = None
        self._responder: Responder | None = None

    # -- personas -------------------------------------------------------------------------

    async def personas(self) -> dict[str, Persona]:
        """The personas of the ``personas`` family by name (``assistant`` always present)."""
        if self._personas is None:
            from victor_core.execution._tools import call_hook

            found: dict[str, Persona] = {DEFAULT_PERSONA.name: DEFAULT_PERSONA}
            results = await call_hook(self.services.plugin_manager, "victor_personas")
            for item in flatten_results(results):
                if isinstance(item, Persona):
                    found[item.name] = item
            self._personas = found
        return self._personas

    async def get_persona(self, name: str | Persona | None = None) -> Persona:
        """The persona called ``name`` (default ``assistant``).

        Raises:
            PersonaNotFoundError: no persona of that name; the message lists the known ones.
        """
        if isinstance(name, Persona):
            return name
        known = await self.personas()
        wanted = name or DEFAULT_PERSONA.name
        if wanted not in known:
            raise PersonaNotFoundError(
                f"unknown persona {wanted!r}; available personas: {', '.join(sorted(known))}",
                persona=wanted,
            )
        return known[wanted]

    # -- the turn ---------------------------------------------------------------------------

    async def run(
        self,
        goal: str,
        *,
        path: str | Path | None = None,
        persona: str | Persona | None = None,
        on_event: EventHook | None = None,
        max_tools: int | None = None,
        use_cache: bool = True,
        approve: Approver | None = None,
        stream: bool | None = None,
    ) -> RunResult:
        """Run ``goal`` in the workspace ``path`` and return its result.

        With a provider that can call tools, the model drives (see
        :mod:`victor_core.agent._model`); otherwise the offline planner plans
        and runs the plan, and a text-only provider writes the answer.

        Args:
            goal: what to do, in words.
            path: the workspace directory the tools work in (default: the current one).
            persona: a persona or its name (default ``assistant``).
            on_event: receives every :class:`~victor_core.agent.AgentEvent` of the run.
            max_tools: most tools and skills offered or selected (default
                ``tool_selection_max_tools``).
            use_cache: whether the model's replies may come from the response cache.
            approve: decides the tool calls ``agent_approval`` holds back (without it
                they are denied).
            stream: stream the model's replies (default: when ``on_event`` is given).

        Raises:
            SettingsError: an empty goal, or ``path`` is not an existing directory.
            PersonaNotFoundError: an unknown persona.
            ChainError: a planner returned an invalid plan.
        """
        if not isinstance(goal, str) or not goal.strip():
            raise SettingsError(f"goal must be a non-empty string (got {goal!r})", field="goal")
        root = _workspace(path)
        emit: EventHook = on_event or _ignore
        timings: dict[str, float] = {}
        errors: list[str] = []
        before = self._cache_counts()
        start = last = self._clock()

        def lap(stage: str) -> None:
            nonlocal last
            now = self._clock()
            timings[stage] = (now - last) * 1000.0
            last = now
            emit(StageFinished(stage=stage, ms=timings[stage]))

        chosen = await self.get_persona(persona)
        lap("persona")
        memories = await self._recall(goal, errors)
        lap("recall")
        tools = await self.services.selector().aselect_tools(
            goal, context={"persona": chosen}, max_tools=max_tools
        )
        skills = await self.services.skills().get_skills()
        lap("selection")
        status = "completed"
        outcome: ModelOutcome | None = None
        try:
            driver = await self.responder.tool_calling()
        except ProviderError as exc:
            driver = None
            status = self._provider_failed(exc, errors)
        if driver is not None:
            lap("planning")
            outcome = await self._drive(
                goal,
                chosen,
                offered=_offer(
                    goal,
                    tools,
                    skills,
                    max_tools,
                    self.settings,
                    installed=self.services.tools().tools(),
                ),
                memories=memories,
                root=root,
                emit=emit,
                approve=approve,
                use_cache=use_cache,
                stream=on_event is not None if stream is None else stream,
            )
            errors.extend(outcome.errors)
            status = outcome.status
            if status == "provider_error" and not outcome.tool_calls:
                # The model could not be asked at all: the offline planner may stand in.
                status = self._provider_failed(None, errors)
                if status == "completed":
                    outcome = None
        result: PlanResult | None = None
        plan: Plan | None = None
        steps: list[StepSummary] = []
        if outcome is not None:
            lap("execution")
            report, source = outcome.answer, "provider"
            lap("response")
        else:
            plan = await self._plan(
                goal,
                tools=tools,
                skills=list(skills.values()),
                persona=chosen,
                memories=memories,
                root=root,
            )
            emit(PlanReady(steps=[_step_doc(s) for s in plan.steps]))
            lap("planning")
            result = await self._execute(plan, skills, root, emit)
            steps = [_summary(s) for s in result.steps]
            errors.extend(f"{s.id}: {s.error}" for s in steps if s.error)
            lap("execution")
            report, source, failed = await self._respond(
                goal,
                chosen,
                result=result,
                memories=memories,
                use_cache=use_cache,
                use_provider=driver is None and status == "completed",
            )
            if failed is not None and status == "completed":
                status = self._provider_failed(failed, errors)
            lap("response")
        await self._record(
            goal, chosen, root=root, steps=steps, report=report, errors=errors, outcome=outcome
        )
        lap("record")
        total = (self._clock() - start) * 1000.0
        ok = status == "completed" and all(s.status == "ok" for s in steps)
        self._observe(timings, total, ok=ok)
        lap("metrics")
        run = RunResult(
            goal=goal,
            persona=chosen.name,
            path=str(root),
            steps=steps,
            report=report,
            response_source=source,
            timings_ms=timings,
            total_ms=(self._clock() - start) * 1000.0,
            cache=self._cache_delta(before),
            plan=_plan_doc(plan, result),
            memories=len(memories),
            errors=errors,
            outputs=outcome.outputs if outcome is not None else (result.outputs if result else {}),
            mode="model" if outcome is not None else "planner",
            answer=report,
            tool_calls=outcome.tool_calls if outcome is not None else [],
            turns=outcome.turns if outcome is not None else 0,
            usage=outcome.usage if outcome is not None else Usage(),
            status=status,
        )
        emit(RunFinished(result=run))
        return run

    def _provider_failed(self, exc: ProviderError | None, errors: list[str]) -> str:
        """Note a provider failure; the run fails unless ``provider_offline_fallback``."""
        if exc is not None:
            errors.append(f"provider: {exc}")
            _warn("agent_provider_failed", error=str(exc))
        if self.settings.provider_offline_fallback:
            errors.append("provider_offline_fallback: answered offline instead")
            return "completed"
        return "provider_error"

    async def _drive(
        self,
        goal: str,
        persona: Persona,
        *,
        offered: list[Tool | Skill],
        memories: list[dict[str, Any]],
        root: Path,
        emit: EventHook,
        approve: Approver | None,
        use_cache: bool,
        stream: bool,
    ) -> ModelOutcome:
        """The model-driven run; a provider failure ends it with ``provider_error``."""
        await self.services.tools().ensure_loaded()
        run = ModelRun(
            responder=self.responder,
            executor=self.services.executor(),
            offered=offered,
            settings=self.settings,
            emit=emit,
            approve=approve,
            workspace=str(root),
            use_cache=use_cache,
            stream=stream,
        )
        system = persona.system_prompt or DEFAULT_PERSONA.system_prompt
        system += (
            f"\n\nThe workspace is {root}. Call the tools offered when they help; "
            "several calls in one turn run in parallel. Answer in words when done."
        )
        if memories:
            lines = [_memory_line(m) for m in memories[:6]]
            system += "\n\nRelated memories from earlier runs:\n" + "\n".join(lines)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": goal},
        ]
        return await run.run(messages)

    async def _recall(self, goal: str, errors: list[str]) -> list[dict[str, Any]]:
        """Related episodes and facts; memory trouble is reported, never fatal."""
        settings = self.settings
        if not (settings.enable_episodic_memory or settings.enable_semantic_memory):
            return []
        memory = self.services.memory()
        found: list[dict[str, Any]] = []
        try:
            if settings.enable_episodic_memory:
                for episode in await memory.episodic.search(goal, 3):
                    found.append({"kind": "episode", **_jsonable(episode.to_dict())})
            if settings.enable_semantic_memory:
                for fact in await memory.semantic.search(goal, 3):
                    found.append({"kind": "fact", **_jsonable(fact.to_dict())})
        except (VictorError, OSError) as exc:
            errors.append(f"memory recall: {exc}")
            _warn("agent_recall_failed", error=str(exc))
        return found

    async def _plan(
        self,
        goal: str,
        *,
        tools: list[Tool],
        skills: list[Any],
        persona: Persona,
        memories: list[dict[str, Any]],
        root: Path,
    ) -> Plan:
        context = {
            "tools": tools,
            "skills": skills,
            "persona": persona,
            "memories": memories,
            "settings": self.settings,
            "workspace": str(root),
            "params": {"path": str(root)},
        }
        # The planning family answers first; the built-in planner when none does.
        plan: Plan = await self.services.planning().plan_for_goal(goal, context)
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

    async def _execute(
        self, plan: Plan, skills: Mapping[str, Any], root: Path, emit: EventHook
    ) -> PlanResult:
        services = self.services
        registry = services.tools()
        executor = services.executor()
        await registry.ensure_loaded()

        async def run_step(step: PlanStep, inputs: Mapping[str, Any]) -> ToolResult:
            emit(StepStarted(id=step.id, action=step.action, step_kind=step.kind))
            started = self._clock()
            try:
                if step.kind == "skill":
                    skill = skills.get(step.action)
                    if skill is None:
                        raise ChainError(
                            f"unknown skill {step.action!r}; known skills: "
                            + (", ".join(sorted(skills)) or "none"),
                            steps=(step.id,),
                        )
                    params = _with_workspace(dict(step.params), skill.func, root)
                    result: ToolResult = await services.skills().run_step(
                        skill, attrs.evolve(step, params=params), inputs, plan.goal
                    )
                else:
                    tool = registry.get(step.action)
                    params = _with_workspace(dict(step.params), tool, root)
                    if inputs and accepts_keyword(tool, "inputs"):
                        params["inputs"] = dict(inputs)
                    result = await executor.execute(step.action, **params)
            except VictorError as exc:
                result = ToolResult(
                    name=step.action,
                    ok=False,
                    error=str(exc),
                    duration_s=self._clock() - started,
                    error_type=type(exc).__name__,
                )
            emit(
                StepFinished(
                    id=step.id,
                    action=step.action,
                    status=_status(result),
                    ms=result.duration_s * 1000.0,
                    error=result.error,
                )
            )
            return result

        outcome: PlanResult = await executor.execute_plan(
            plan, run_step, parallel=bool(self.settings.parallel_execution_enabled)
        )
        return outcome

    async def _respond(
        self,
        goal: str,
        persona: Persona,
        *,
        result: PlanResult,
        memories: list[dict[str, Any]],
        use_cache: bool,
        use_provider: bool,
    ) -> tuple[str, str, ProviderError | None]:
        """The report, who wrote it, and the provider's failure if it failed."""
        report = write_report(persona, goal, result.steps, memories=len(memories))
        if not (self.settings.provider and use_provider):
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
            answer = await self.complete(messages, use_cache=use_cache)
        except ProviderError as exc:
            return report, "persona", exc
        return answer, "provider", None

    async def _record(
        self,
        goal: str,
        persona: Persona,
        *,
        root: Path,
        steps: list[StepSummary],
        report: str,
        errors: list[str],
        outcome: ModelOutcome | None = None,
    ) -> None:
        if not self.settings.enable_episodic_memory:
            return
        actions: list[dict[str, Any]] = [
            {"step": s.id, "action": s.action, "status": s.status} for s in steps
        ]
        if outcome is not None:
            actions = [
                {
                    "action": c.name,
                    "arguments": _jsonable(c.arguments),
                    "status": "ok" if c.ok else "failed",
                    "error": c.error,
                    "turn": c.turn,
                }
                for c in outcome.tool_calls
            ]
        ok = outcome.status == "completed" if outcome else all(s.status == "ok" for s in steps)
        try:
            await self.services.memory().episodic.record(
                goal,
                actions=actions,
                outcome={
                    "ok": ok,
                    "summary": report.splitlines()[0] if report else "",
                },
                persona=persona.name,
                path=str(root),
            )
        except (VictorError, OSError) as exc:
            errors.append(f"memory record: {exc}")
            _warn("agent_record_failed", error=str(exc))

    def _observe(self, timings: Mapping[str, float], total_ms: float, *, ok: bool) -> None:
        if not self.settings.metrics_enabled:
            return
        registry = self.services.metrics()
        registry.create_counter("victor_agent_runs_total", "Agent turns run.").increment()
        if not ok:
            registry.create_counter(
                "victor_agent_failed_runs_total", "Agent turns with a failed step."
            ).increment()
        registry.create_timer("victor_agent_run_seconds", "Duration of agent turns.").observe(
            total_ms / 1000.0
        )
        stages = registry.create_timer(
            "victor_agent_stage_seconds",
            "Duration of each stage of agent turns.",
            labels=("stage",),
        )
        for stage, ms in timings.items():
            stages.labels(stage=stage).observe(ms / 1000.0)

    def _cache_counts(self) -> dict[str, tuple[int, int]]:
        """Hits and misses of each cache so far, from the cache metrics.

        Read from the metrics registry rather than the caches so that counting
        opens no cache the turn does not use.
        """
        from victor_core.cache._manager import CACHE_TYPES

        registry = self.services.metrics()
        counts: dict[str, tuple[int, int]] = {}
        for cache_type in CACHE_TYPES:
            hits = registry.get(f"victor_cache_{cache_type}_hits_total")
            misses = registry.get(f"victor_cache_{cache_type}_misses_total")
            counts[cache_type] = (
                int(hits.value) if hits is not None else 0,
                int(misses.value) if misses is not None else 0,
            )
        return counts

    def _cache_delta(self, before: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
        after = self._cache_counts()
        out: dict[str, Any] = {}
        for cache_type, (hits, misses) in after.items():
            h0, m0 = before.get(cache_type, (0, 0))
            out[cache_type] = {"hits": hits - h0, "misses": misses - m0}
        return out

    # -- chat -----------------------------------------------------------------------------------

    @property
    def responder(self) -> Responder:
        """Answers messages through the response cache and the provider (built on first use)."""
        if self._responder is None:
            from victor_core.providers._registry import Responder

            services = self.services
            self._responder = Responder(
                self.settings,
                services.plugin_manager,
                response_cache=services.response_cache,
                offline=self._offline_answer,
                metrics=services.metrics() if self.settings.metrics_enabled else None,
            )
        return self._responder

    async def complete(
        self, messages: Sequence[Mapping[str, str]], *, use_cache: bool = True, **params: Any
    ) -> str:
        """The answer to ``messages`` from the provider, or the offline responder (cached)."""
        return await self.responder.complete(messages, use_cache=use_cache, **params)

    async def chat(
        self,
        message: str,
        use_cache: bool = True,
        *,
        system: str | None = None,
        history: Sequence[Mapping[str, str]] = (),
        **params: Any,
    ) -> str:
        """Answer ``message``; ``params`` (``temperature``...) go to the model and the cache key.

        Raises:
            SettingsError: an empty message.
            ProviderError: the provider failed.
        """
        from victor_core.providers._registry import chat_messages

        messages = chat_messages(message, system=system, history=history)
        return await self.responder.complete(messages, use_cache=use_cache, **params)

    async def stream_chat(
        self,
        message: str,
        use_cache: bool = True,
        *,
        system: str | None = None,
        history: Sequence[Mapping[str, str]] = (),
        **params: Any,
    ) -> AsyncIterator[str]:
        """Answer ``message`` as text chunks (a cached answer is replayed; see :class:`Responder`).

        Raises:
            SettingsError: an empty message.
            ProviderError: the provider failed, or its stream broke midway.
        """
        from victor_core.providers._registry import chat_messages

        messages = chat_messages(message, system=system, history=history)
        async for chunk in self.responder.stream(messages, use_cache=use_cache, **params):
            yield chunk

    async def _offline_answer(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The built-in responder used without a provider: which tools fit, and how to run them."""
        question = next(
            (m["content"] for m in reversed(messages) if m.get("role") == "user"), ""
        ).strip()
        try:
            tools = await self.services.selector().aselect_tools(question, max_tools=3)
        except VictorError:
            tools = []
        names = ", ".join(t.name for t in tools)
        lines = [
            "No model provider is configured (set `provider`, for example 'ollama'), so this "
            "is victor-core's offline answer."
        ]
        if names:
            lines.append(f"Tools that fit {question!r}: {names}.")
            lines.append(f'Run `victor run "{question}"` to use them and get a report.')
        else:
            lines.append("No installed tool fits it; install tool plugins to act on it.")
        return "\n".join(lines)

    async def aclose(self) -> None:
        """Close the provider's connections (idempotent)."""
        responder, self._responder = self._responder, None
        if responder is not None:
            await responder.aclose()


# -- the report -----------------------------------------------------------------------------


def write_report(
    persona: Persona, goal: str, steps: Sequence[StepResult], *, memories: int = 0
) -> str:
    """The report of a turn, written the persona's way.

    Steps come in order of the persona's preference (its favourite tools
    first), then plan order. ``concise``: a line per step and its top three
    highlights; ``bullet``: a bullet per step with five; ``detailed``: a
    section per step with ten, and the step's duration. Highlights that
    share words with the goal come first ("long functions" puts the long
    ones before the complex ones).
    """
    prefs = persona.tool_preferences
    ordered = sorted(
        enumerate(steps), key=lambda item: (-float(prefs.get(item[1].action, 1.0)), item[0])
    )
    ok = sum(1 for s in steps if s.ok)
    head = f"{goal.strip()}: {ok} of {len(steps)} steps succeeded ({persona.name})"
    lines = [head]
    wanted = _word_roots(goal)
    for _, step in ordered:
        summary, highlights = _describe(step)
        highlights.sort(key=lambda h: -len(_word_roots(h) & wanted))
        if persona.style == "concise":
            mark = "" if step.ok else f" [{step.status}]"
            lines.append(f"- {step.action}{mark}: {summary}")
            lines.extend(f"    {h}" for h in highlights[:3])
        elif persona.style == "bullet":
            lines.append(f"* {step.action} ({step.status}): {summary}")
            lines.extend(f"    - {h}" for h in highlights[:5])
        else:
            lines.append("")
            lines.append(f"## {step.action} ({step.status}, {step.duration_s * 1000.0:.0f} ms)")
            lines.append(summary)
            lines.extend(f"  - {h}" for h in highlights[:10])
    if memories and persona.style == "detailed":
        lines.append("")
        lines.append(f"Recalled {memories} related memories from earlier runs.")
    return "\n".join(lines)


_REPORT_WORD = re.compile(r"[a-z]{4,}")
_COMMON = frozenset({"find", "show", "list", "with", "that", "this", "what", "from", "have"})


def _word_roots(text: str) -> set[str]:
    """The first four letters of the longer words of ``text`` (so "TODOs" meets "TODO:")."""
    return {w[:4] for w in _REPORT_WORD.findall(text.lower()) if w not in _COMMON}


def _describe(step: StepResult) -> tuple[str, list[str]]:
    if not step.ok:
        return (step.error or step.status), []
    value = step.value
    if isinstance(value, Mapping):
        summary = value.get("summary")
        highlights = value.get("highlights")
        if isinstance(summary, str):
            items = [str(h) for h in highlights] if isinstance(highlights, list) else []
            return summary, items
        return "returned " + ", ".join(map(str, list(value)[:6])), []
    if isinstance(value, (list, tuple)):
        return f"{len(value)} items", [str(v)[:120] for v in value[:5]]
    text = "done" if value is None else str(value)
    return (text if len(text) <= 200 else text[:197] + "..."), []


# -- helpers ----------------------------------------------------------------------------------


def _ignore(event: AgentEvent) -> None:
    return None


def _offer(
    goal: str,
    tools: Sequence[Tool],
    skills: Mapping[str, Skill],
    max_tools: int | None,
    settings: Any,
    *,
    installed: Sequence[Tool] = (),
) -> list[Tool | Skill]:
    """The tools and skills offered to the model: at most ``tool_selection_max_tools``.

    The selected tools come first; skills sharing words with the goal take up
    to a third of the places. Places the selection leaves free go to the other
    installed tools, in registry order: the model, not word overlap, decides
    whether a tool helps (a goal in other words than a tool's description would
    otherwise be offered nothing).
    """
    limit = int(max_tools or settings.tool_selection_max_tools)
    picked = {t.name for t in tools}
    tools = [*tools, *(t for t in installed if t.name not in picked)]
    wanted = _word_roots(goal)
    ranked = sorted(
        skills.values(),
        key=lambda s: -len(_word_roots(f"{s.name.replace('_', ' ')} {s.description}") & wanted),
    )
    chosen_skills = ranked[: min(len(ranked), max(limit // 3, 0))]
    offered: list[Tool | Skill] = list(tools[: limit - len(chosen_skills)])
    offered.extend(chosen_skills)
    return offered[:limit]


def _memory_line(memory: Mapping[str, Any]) -> str:
    if memory.get("kind") == "fact":
        return f"- fact: {str(memory.get('text', ''))[:200]}"
    outcome = memory.get("outcome") or {}
    summary = outcome.get("summary", "") if isinstance(outcome, Mapping) else ""
    return f"- earlier run {str(memory.get('goal', ''))[:120]!r}: {str(summary)[:160]}"


def _plan_doc(plan: Plan | None, result: PlanResult | None) -> dict[str, Any]:
    if plan is None or result is None:
        return {"steps": [], "waves": [], "metadata": {"planner": "model"}}
    return {
        "steps": [_step_doc(s) for s in plan.steps],
        "waves": [list(w) for w in result.waves],
        "metadata": _jsonable(dict(plan.metadata)),
    }


def _workspace(path: str | Path | None) -> Path:
    root = Path(path) if path else Path.cwd()
    root = root.expanduser()
    if not root.exists():
        raise SettingsError(f"path {str(root)!r} does not exist", field="path", value=str(root))
    if not root.is_dir():
        raise SettingsError(f"path {str(root)!r} is not a directory", field="path", value=str(root))
    return root.resolve()


def _with_workspace(params: dict[str, Any], target: Any, root: Path) -> dict[str, Any]:
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


def _summary(step: StepResult) -> StepSummary:
    return StepSummary(
        id=step.id,
        action=step.action,
        kind=step.kind,
        status=step.status,
        duration_ms=step.duration_s * 1000.0,
        summary=_describe(step)[0],
        error=step.error,
        wave=step.wave,
    )


def _step_doc(step: PlanStep) -> dict[str, Any]:
    return {
        "id": step.id,
        "action": step.action,
        "kind": step.kind,
        "params": _jsonable(dict(step.params)),
        "depends_on": list(step.depends_on),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else repr(value)


def _warn(event: str, **fields: Any) -> None:
    from victor_core._log import get_logger

    get_logger().warning(event, **fields)
