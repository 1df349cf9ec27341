"""The agent loop: one turn from a goal to a report, and chat with a provider.

:meth:`AgentLoop.run` takes a goal through every stage, timing each::

    persona -> recall -> selection -> planning -> execution -> response -> record -> metrics

- **persona**: the ``personas`` family's persona of that name (default
  ``assistant``, or a built-in one when no plugin offers it);
- **recall**: related episodes and facts from memory (never fatal);
- **selection**: the tools best suited to the goal, weighted by the persona (cached);
  skipped when a tool-calling model is offered every installed tool and skill
  anyway (they all fit in ``tool_selection_max_tools``);
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

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from victor_core.agent import _bookkeeping, _planned
from victor_core.agent._events import AgentEvent, EventHook, PlanReady, RunFinished, StageFinished
from victor_core.agent._model import ModelOutcome, ModelRun
from victor_core.agent._report import word_roots, write_report
from victor_core.agent._results import DEFAULT_PERSONA, STAGES, RunResult, StepSummary
from victor_core.exceptions import PersonaNotFoundError, ProviderError, SettingsError, VictorError
from victor_core.models import Persona, Plan, Skill
from victor_core.plugins._manager import flatten_results
from victor_core.providers._types import Usage

if TYPE_CHECKING:
    from victor_core.agent._services import AgentServices, Approver
    from victor_core.models import PlanResult, Tool
    from victor_core.providers._registry import Responder

__all__ = ["DEFAULT_PERSONA", "STAGES", "AgentLoop", "RunResult", "StepSummary", "write_report"]


@attrs.define(kw_only=True)
class _Turn:
    """The state of one :meth:`AgentLoop.run`: its stage timer, errors and status."""

    goal: str
    root: Path
    emit: EventHook
    clock: Callable[[], float]
    before: dict[str, tuple[int, int]]
    start: float
    last: float
    timings: dict[str, float] = attrs.field(factory=dict)
    errors: list[str] = attrs.field(factory=list)
    status: str = "completed"

    def lap(self, stage: str) -> None:
        """Time ``stage`` (since the previous lap) and emit its :class:`StageFinished`."""
        now = self.clock()
        self.timings[stage] = (now - self.last) * 1000.0
        self.last = now
        self.emit(StageFinished(stage=stage, ms=self.timings[stage]))


@attrs.define(kw_only=True)
class _Done:
    """What the execution and response stages produced, for the record and the result."""

    report: str
    source: str
    outcome: ModelOutcome | None = None
    plan: Plan | None = None
    result: PlanResult | None = None
    steps: list[StepSummary] = attrs.field(factory=list)


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
        before = _bookkeeping.cache_counts(self.services)
        start = self._clock()
        turn = _Turn(
            goal=goal,
            root=root,
            emit=on_event or _ignore,
            clock=self._clock,
            before=before,
            start=start,
            last=start,
        )
        chosen = await self.get_persona(persona)
        turn.lap("persona")
        return await self._stages(
            turn,
            chosen,
            max_tools=max_tools,
            use_cache=use_cache,
            approve=approve,
            stream=on_event is not None if stream is None else stream,
        )

    async def _stages(
        self,
        turn: _Turn,
        chosen: Persona,
        *,
        max_tools: int | None,
        use_cache: bool,
        approve: Approver | None,
        stream: bool,
    ) -> RunResult:
        """The stages of a turn after ``persona``: recall to metrics."""
        goal = turn.goal
        memories = await _bookkeeping.recall(self.services, goal, turn.errors)
        turn.lap("recall")
        skills = await self.services.skills().get_skills()
        tools = await self._everything_offered(skills, max_tools)
        if tools is None:
            tools = await self.services.selector().aselect_tools(
                goal, context={"persona": chosen}, max_tools=max_tools
            )
        turn.lap("selection")
        driven, outcome = await self._model_turn(
            turn,
            chosen,
            offered=(tools, skills, max_tools),
            memories=memories,
            approve=approve,
            use_cache=use_cache,
            stream=stream,
        )
        if outcome is not None:
            turn.lap("execution")
            done = _Done(report=outcome.answer, source="provider", outcome=outcome)
            turn.lap("response")
        else:
            done = await self._planned_turn(
                turn,
                chosen,
                tools=tools,
                skills=skills,
                memories=memories,
                use_cache=use_cache,
                use_provider=not driven and turn.status == "completed",
            )
        return await self._finish(turn, chosen, done, memories=len(memories))

    async def _everything_offered(
        self, skills: Mapping[str, Skill], max_tools: int | None
    ) -> list[Tool] | None:
        """Every installed tool, when a tool-calling model will be offered all tools and skills.

        Selection narrows what the model is offered to ``tool_selection_max_tools``;
        when every tool and skill fits, there is nothing to narrow and the
        ranking (with its cache lookups) is skipped. None: select as usual.
        """
        try:
            if await self.responder.tool_calling() is None:
                return None
        except ProviderError:
            return None  # the model turn reports it
        registry = self.services.tools()
        await registry.ensure_loaded()
        installed = registry.tools()
        limit = int(max_tools or self.settings.tool_selection_max_tools)
        if len(installed) + len(skills) > limit:
            return None
        return list(installed)

    async def _model_turn(
        self,
        turn: _Turn,
        persona: Persona,
        *,
        offered: tuple[list[Tool], Mapping[str, Skill], int | None],
        memories: list[dict[str, Any]],
        approve: Approver | None,
        use_cache: bool,
        stream: bool,
    ) -> tuple[bool, ModelOutcome | None]:
        """Whether a tool-calling model was found, and its outcome (None: the planner plans)."""
        try:
            driver = await self.responder.tool_calling()
        except ProviderError as exc:
            turn.status = self._provider_failed(exc, turn.errors)
            return False, None
        if driver is None:
            return False, None
        turn.lap("planning")
        tools, skills, max_tools = offered
        installed = self.services.tools().tools()
        outcome = await self._drive(
            turn.goal,
            persona,
            offered=_offer(turn.goal, tools, skills, max_tools, self.settings, installed=installed),
            memories=memories,
            root=turn.root,
            emit=turn.emit,
            approve=approve,
            use_cache=use_cache,
            stream=stream,
        )
        turn.errors.extend(outcome.errors)
        turn.status = outcome.status
        if turn.status == "provider_error" and not outcome.tool_calls:
            # The model could not be asked at all: the offline planner may stand in.
            turn.status = self._provider_failed(None, turn.errors)
            if turn.status == "completed":
                return True, None
        return True, outcome

    async def _planned_turn(
        self,
        turn: _Turn,
        persona: Persona,
        *,
        tools: list[Tool],
        skills: Mapping[str, Skill],
        memories: list[dict[str, Any]],
        use_cache: bool,
        use_provider: bool,
    ) -> _Done:
        """The offline planner's turn: plan, execute, and the answer from the results."""
        plan = await _planned.plan_for(
            self.services,
            turn.goal,
            tools=tools,
            skills=list(skills.values()),
            persona=persona,
            memories=memories,
            root=turn.root,
        )
        turn.emit(PlanReady(steps=[_planned.step_doc(s) for s in plan.steps]))
        turn.lap("planning")
        result = await _planned.execute(
            self.services, plan, skills, turn.root, turn.emit, clock=self._clock
        )
        steps = [_planned.summary(s) for s in result.steps]
        turn.errors.extend(f"{s.id}: {s.error}" for s in steps if s.error)
        turn.lap("execution")
        report, source, failed = await _planned.respond(
            self.complete,
            self.settings,
            turn.goal,
            persona,
            result=result,
            memories=len(memories),
            use_cache=use_cache,
            use_provider=use_provider,
        )
        if failed is not None and turn.status == "completed":
            turn.status = self._provider_failed(failed, turn.errors)
        turn.lap("response")
        return _Done(report=report, source=source, plan=plan, result=result, steps=steps)

    async def _finish(
        self, turn: _Turn, persona: Persona, done: _Done, *, memories: int
    ) -> RunResult:
        """Record the turn, count it, and build (and announce) its :class:`RunResult`."""
        if self.settings.enable_episodic_memory:
            await _bookkeeping.record(
                self.services,
                turn.goal,
                persona=persona.name,
                path=str(turn.root),
                doc=_bookkeeping.record_doc(done.steps, done.report, done.outcome),
                errors=turn.errors,
            )
        turn.lap("record")
        total = (self._clock() - turn.start) * 1000.0
        ok = turn.status == "completed" and all(s.status == "ok" for s in done.steps)
        _bookkeeping.observe(self.services, turn.timings, total, ok=ok)
        turn.lap("metrics")
        run = _result(turn, persona, done, memories=memories)
        run.total_ms = (self._clock() - turn.start) * 1000.0
        run.cache = _bookkeeping.cache_delta(self.services, turn.before)
        turn.emit(RunFinished(result=run))
        return run

    def _provider_failed(self, exc: ProviderError | None, errors: list[str]) -> str:
        """Note a provider failure; the run fails unless ``provider_offline_fallback``."""
        if exc is not None:
            errors.append(f"provider: {exc}")
            _bookkeeping.warn("agent_provider_failed", error=str(exc))
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
        """The model-driven run; a provider failure ends it with ``provider_error``.

        The recalled memories are left out of the response cache's key: they
        restate earlier runs of the goal (each run adds one), so keying on them
        would make every repeat of a goal miss the cache.
        """
        await self.services.tools().ensure_loaded()
        base = persona.system_prompt or DEFAULT_PERSONA.system_prompt
        base += (
            f"\n\nThe workspace is {root}. Call the tools offered when they help; "
            "several calls in one turn run in parallel. Answer in words when done."
        )
        system = base
        if memories:
            lines = [_memory_line(m) for m in memories[:6]]
            system += "\n\nRelated memories from earlier runs:\n" + "\n".join(lines)
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
            key_system=base if system != base else None,
        )
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": goal},
        ]
        return await run.run(messages)

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


# -- helpers ----------------------------------------------------------------------------------


def _result(turn: _Turn, persona: Persona, done: _Done, *, memories: int) -> RunResult:
    """The turn's :class:`RunResult` (``total_ms`` and ``cache`` are set by the caller)."""
    outcome, result = done.outcome, done.result
    return RunResult(
        goal=turn.goal,
        persona=persona.name,
        path=str(turn.root),
        steps=done.steps,
        report=done.report,
        response_source=done.source,
        timings_ms=turn.timings,
        total_ms=0.0,
        cache={},
        plan=_planned.plan_doc(done.plan, result),
        memories=memories,
        errors=turn.errors,
        outputs=outcome.outputs if outcome is not None else (result.outputs if result else {}),
        mode="model" if outcome is not None else "planner",
        answer=done.report,
        tool_calls=outcome.tool_calls if outcome is not None else [],
        turns=outcome.turns if outcome is not None else 0,
        usage=outcome.usage if outcome is not None else Usage(),
        status=turn.status,
    )


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
    wanted = word_roots(goal)
    ranked = sorted(
        skills.values(),
        key=lambda s: -len(word_roots(f"{s.name.replace('_', ' ')} {s.description}") & wanted),
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


def _workspace(path: str | Path | None) -> Path:
    root = Path(path) if path else Path.cwd()
    root = root.expanduser()
    if not root.exists():
        raise SettingsError(f"path {str(root)!r} does not exist", field="path", value=str(root))
    if not root.is_dir():
        raise SettingsError(f"path {str(root)!r} is not a directory", field="path", value=str(root))
    return root.resolve()
