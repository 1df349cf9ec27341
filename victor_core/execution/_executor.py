"""Running tools: one at a time, many at once, and plans in dependency waves.

:class:`ToolExecutor` looks tools up, checks their parameters, and hands the
calls to its backend (:mod:`victor_core.execution._backend`): by default the
local one, which runs async tools on the event loop and blocking tools on a
small pool of daemon threads, each under its timeout. Every outcome becomes a
:class:`~victor_core.ToolResult`: a tool that raises or times out gives
``ok=False`` and an ``error`` saying why; it never raises into the caller and
never cancels or loses the other tools' results. Asking for a tool that does
not exist, or passing parameters it does not accept, is a mistake of the
caller: :meth:`ToolExecutor.execute` raises
:class:`~victor_core.exceptions.ToolNotFoundError` or
:class:`~victor_core.exceptions.ToolParameterError` before anything runs,
while :meth:`ToolExecutor.execute_parallel` reports it as that item's failed
result, so that a batch always gives back one result per item.

This module imports asyncio; the orchestrator imports it on first use only.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import ToolNotFoundError, ToolParameterError
from victor_core.execution._backend import (
    ExecutorBackend,
    LocalBackend,
    ToolCall,
    check_workers,
    error_text,
    resolve_backend,
    run_bounded,
)
from victor_core.execution._plan import StepRunner, run_waves, skill_kwargs, step_params
from victor_core.execution._tools import (
    ToolRegistry,
    call_hook,
    hook_dispatcher,
    validate_params,
)
from victor_core.models import Plan, PlanResult, PlanStep, Skill, Tool, ToolResult
from victor_core.plugins._async import gather_results

if TYPE_CHECKING:
    import pluggy

    from victor_core.metrics._registry import MetricsRegistry
    from victor_core.settings import Settings

__all__ = ["StepRunner", "ToolExecutor"]


class _Instruments:
    """The executor's metrics, created once on the registry it was given."""

    def __init__(self, registry: MetricsRegistry) -> None:
        self.executions = registry.create_counter(
            "tool_executions_total", "Tool executions, successful or not"
        )
        self.errors = registry.create_counter(
            "tool_errors_total", "Tool executions that raised or timed out"
        )
        self.timeouts = registry.create_counter(
            "tool_timeouts_total", "Tool executions that ran past their timeout"
        )
        self.timer = registry.create_timer("tool_execution_time", "Seconds tools ran")
        from victor_core.metrics._types import Counter

        # victor-core's counters add any amount at once; others are told one at a time.
        self._adds = all(
            isinstance(c, Counter) for c in (self.executions, self.errors, self.timeouts)
        )

    def record(self, result: ToolResult) -> None:
        self.timer.observe(result.duration_s)
        self.executions.increment()
        if not result.ok:
            self.errors.increment()
            if result.error_type == "ToolTimeoutError":
                self.timeouts.increment()

    def record_many(self, results: Sequence[ToolResult]) -> None:
        """:meth:`record` each of ``results``, each counter incremented once."""
        if not self._adds:
            for result in results:
                self.record(result)
            return
        observe = self.timer.observe
        failed: list[ToolResult] = []
        for result in results:
            observe(result.duration_s)
            if not result.ok:
                failed.append(result)
        self.executions.increment(len(results))
        if failed:
            self.errors.increment(len(failed))
            timeouts = sum(1 for r in failed if r.error_type == "ToolTimeoutError")
            if timeouts:
                self.timeouts.increment(timeouts)


class ToolExecutor:
    """Runs the tools of a :class:`~victor_core.execution.ToolRegistry`.

    Args:
        settings: ``max_parallel_workers``, ``parallel_threshold``,
            ``parallel_execution_enabled`` and ``tool_execution_timeout`` are
            read at every call, so changing them takes effect at once;
            ``executor_backend`` chooses the backend the first time a tool runs.
        registry: where tools are looked up (plugin tools load on first use).
        plugin_manager: when given, ``victor_tool_result(result, params)`` is
            dispatched after every tool execution, and ``victor_executor_backend``
            answers for a backend other than ``"local"``.
        metrics: a :class:`~victor_core.metrics.MetricsRegistry` (or anything with
            ``create_counter`` and ``create_timer``, whose timer has
            ``observe(seconds)``) that records executions, errors, timeouts
            and each tool's run time.
        backend: the backend to use instead of the one ``executor_backend`` names.
    """

    def __init__(
        self,
        settings: Settings,
        registry: ToolRegistry,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        metrics: MetricsRegistry | None = None,
        backend: ExecutorBackend | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.plugin_manager = plugin_manager
        self._metrics = metrics
        self._instruments: _Instruments | None = None
        self._backend = backend

    @property
    def backend(self) -> ExecutorBackend:
        """The backend running the calls (chosen by ``executor_backend`` on first use).

        Raises:
            SettingsError: no installed plugin provides the backend named.
        """
        backend = self._backend
        if backend is None:
            backend = self._backend = resolve_backend(
                str(self.settings.executor_backend), self.settings, self.plugin_manager
            )
        if isinstance(backend, LocalBackend):
            backend.threads = max(backend.threads, int(self.settings.max_parallel_workers))
        return backend

    # -- public API -------------------------------------------------------------------

    async def execute(self, name: str, /, **params: Any) -> ToolResult:
        """Run the tool ``name`` with keyword ``params``.

        Returns:
            The result; ``ok`` is False when the tool raised or timed out.

        Raises:
            ToolNotFoundError: no tool of that name (the message names close matches).
            ToolParameterError: unknown or missing parameters (the message lists
                what the tool accepts).
            SettingsError: ``executor_backend`` names a backend no plugin provides.
        """
        registry = self.registry
        if not registry.loaded:
            await registry.ensure_loaded()
        tool = registry.get(name)
        return await self.run_tool(tool, validate_params(tool, params))

    async def execute_parallel(
        self,
        tools: Iterable[Any],
        parameters: Mapping[str, Any] | None = None,
        max_workers: int | None = None,
    ) -> list[ToolResult]:
        """Run several tools concurrently; results come back in input order.

        Args:
            tools: tool names, :class:`~victor_core.Tool` objects, ``(name, params)``
                pairs or ``{"name": ..., "params": {...}}`` dicts.
            parameters: one dict given to every tool; a tool whose schema is
                closed receives only the names it accepts. Per-tool params
                (pairs and dicts) override it.
            max_workers: most tools running at once (default ``max_parallel_workers``).

        Fewer than ``parallel_threshold`` tools, ``parallel_execution_enabled=False``
        or ``max_workers=1`` run them one after the other.

        Returns:
            One result per item. An unknown tool or parameters it does not
            accept give that item a failed result (``error_type``
            ``"ToolNotFoundError"`` or ``"ToolParameterError"``, the message
            naming the tool and what it accepts); the other items still run.

        Raises:
            ToolParameterError: an item is none of the accepted forms.
            SettingsError: ``max_workers`` is not a positive int, or
                ``executor_backend`` names a backend no plugin provides.
        """
        settings = self.settings
        workers = check_workers(max_workers, settings.max_parallel_workers)
        if not self.registry.loaded:
            await self.registry.ensure_loaded()
        if isinstance(tools, (str, Tool)):
            tools = [tools]
        results, calls, slots, all_params = self._prepare(tools, parameters)
        if not calls:
            return [r for r in results if r is not None]
        if not settings.parallel_execution_enabled or len(results) < settings.parallel_threshold:
            workers = 1
        backend = self.backend
        if isinstance(backend, LocalBackend) and workers > backend.threads:
            backend.threads = workers
        done = await backend.run_batch(calls, workers)
        await self._finish_many(done, all_params)
        for slot, result in zip(slots, done, strict=True):
            results[slot] = result
        return results  # type: ignore[return-value]  # every slot is filled

    def _prepare(
        self, tools: Iterable[Any], parameters: Mapping[str, Any] | None
    ) -> tuple[list[ToolResult | None], list[ToolCall], list[int], list[dict[str, Any]]]:
        """The batch's calls, and a result already for each item that cannot run.

        Returns ``(results, calls, slots, params)``: ``results`` has one entry
        per item (None where a call will fill it), ``slots[i]`` is the index in
        ``results`` of ``calls[i]``, ``params[i]`` its parameters.
        """
        results: list[ToolResult | None] = []
        calls: list[ToolCall] = []
        slots: list[int] = []
        all_params: list[dict[str, Any]] = []
        default_timeout = self.settings.tool_execution_timeout
        lookup = self._resolver(parameters)
        for item in tools:
            try:
                tool, params = lookup(item)
            except (ToolNotFoundError, ToolParameterError) as exc:
                if exc.tool is None:
                    raise  # not a tool reference at all: a bug in the calling code
                results.append(_rejected(exc))
                continue
            slots.append(len(results))
            results.append(None)
            timeout = tool.timeout if tool.timeout is not None else default_timeout
            calls.append(ToolCall(tool.name, tool.func, params, timeout))
            all_params.append(params)
        return results, calls, slots, all_params

    def _resolver(
        self, shared: Mapping[str, Any] | None
    ) -> Callable[[Any], tuple[Tool, dict[str, Any]]]:
        """``_resolve`` for one batch, remembering the tools that take no parameters.

        A batch often names the same tools many times; a tool name with no
        parameters of its own (and no shared ones) is checked once per batch.
        """
        if shared:
            return lambda item: self._resolve(item, shared)
        get = self.registry.get
        bare: dict[str, Tool] = {}  # names whose tool accepts being called with no parameters

        def resolve(item: Any) -> tuple[Tool, dict[str, Any]]:
            if type(item) is str:
                tool = bare.get(item)
                if tool is not None:
                    return tool, {}
                tool = get(item)
                params = validate_params(tool, {})
                bare[item] = tool
                return tool, params
            return self._resolve(item, None)

        return resolve

    async def call(
        self,
        name: str,
        func: Callable[..., Any],
        params: Mapping[str, Any],
        *,
        timeout: float | None = None,
    ) -> ToolResult:
        """Run any callable with the executor's guarantees (its backend, timeout, result).

        Used for skills; no hook is dispatched and no tool metric recorded.

        Args:
            name: reported as the result's ``name``.
            func: sync or async callable taking ``params`` as keywords.
            params: keyword arguments.
            timeout: seconds (default ``tool_execution_timeout``).
        """
        limit = self.settings.tool_execution_timeout if timeout is None else timeout
        return await self.backend.run(ToolCall(name, func, params, limit))

    async def run_bounded(
        self, thunks: Sequence[Callable[[], Awaitable[Any]]], workers: int
    ) -> list[Any]:
        """Await ``thunks`` with at most ``workers`` running at once; results in input order.

        See :func:`victor_core.execution._backend.run_bounded`.
        """
        return await run_bounded(thunks, workers)

    async def run_tool(self, tool: Tool, params: dict[str, Any]) -> ToolResult:
        """Run ``tool`` with already validated ``params``: timeout, metrics, result hook."""
        timeout = tool.timeout if tool.timeout is not None else self.settings.tool_execution_timeout
        result = await self.backend.run(ToolCall(tool.name, tool.func, params, timeout))
        if self._metrics is not None:
            self._get_instruments(self._metrics).record(result)
        if self.plugin_manager is not None:
            await self._notify_many(self.plugin_manager, (result,), (params,))
        return result

    async def execute_plan(
        self,
        plan: Plan,
        run_step: StepRunner,
        *,
        parallel: bool = True,
        max_workers: int | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> PlanResult:
        """Run ``plan``'s steps in dependency waves, each with ``run_step``.

        Every step of a wave runs once the previous waves are done, at most
        ``max_workers`` at once (one at a time when ``parallel`` is False). A
        step whose dependency did not succeed is ``"skipped"``; the others run.

        Args:
            plan: the plan (validated with :meth:`Plan.waves`).
            run_step: ``async run_step(step, inputs) -> ToolResult``; ``inputs``
                maps dependency ids to their values.
            parallel: whether independent steps may run concurrently.
            max_workers: the bound (default ``max_parallel_workers``).
            inputs: extra values every step's ``inputs`` starts from.

        Raises:
            ChainError: the plan has a cycle, a missing dependency or duplicate ids.
        """
        workers = check_workers(max_workers, self.settings.max_parallel_workers) if parallel else 1
        return await run_waves(plan, run_step, workers=workers, inputs=inputs)

    async def run_plan(
        self,
        plan: Plan,
        *,
        skills: Mapping[str, Skill] | None = None,
        parallel: bool = True,
        max_workers: int | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> PlanResult:
        """Run ``plan`` with the standard step runner: the one plan runner of victor-core.

        Tool steps run their tool through :meth:`run_tool` with
        :func:`~victor_core.execution._plan.step_params`; skill steps run the
        skill of ``skills`` named by the step through :meth:`call` with
        :func:`~victor_core.execution._plan.skill_kwargs`.

        Raises:
            ChainError: the plan is not a valid DAG, or a skill step names a
                skill that is not in ``skills``.
            ToolNotFoundError, ToolParameterError: a tool step names an unknown
                tool or gives it parameters it does not accept (checked before
                anything runs).
        """
        from victor_core.exceptions import ChainError

        plan.waves()
        tools = await self.plan_tools(plan)
        skills = dict(skills or {})
        missing = sorted({s.action for s in plan.steps if s.kind == "skill"} - set(skills))
        if missing:
            raise ChainError(
                f"unknown skill(s) {', '.join(map(repr, missing))}; known skills: "
                + (", ".join(map(repr, sorted(skills))) or "none"),
                steps=tuple(missing),
            )

        async def run_step(step: PlanStep, step_inputs: dict[str, Any]) -> ToolResult:
            return await self.run_step(step, step_inputs, plan.goal, tools=tools, skills=skills)

        return await self.execute_plan(
            plan, run_step, parallel=parallel, max_workers=max_workers, inputs=inputs
        )

    async def plan_tools(self, plan: Plan) -> dict[str, Tool]:
        """The tool of every tool step of ``plan``, by name, their parameters checked.

        Raises:
            ToolNotFoundError, ToolParameterError: as :meth:`run_plan`.
        """
        tools: dict[str, Tool] = {}
        if not any(step.kind == "tool" for step in plan.steps):
            return tools
        await self.registry.ensure_loaded()
        for step in plan.steps:
            if step.kind != "tool":
                continue
            tool = tools.get(step.action) or self.registry.get(step.action)
            tools[step.action] = tool
            placeholder = {dep: None for dep in step.depends_on}
            validate_params(tool, step_params(tool, step, placeholder))
        return tools

    async def run_step(
        self,
        step: PlanStep,
        inputs: Mapping[str, Any],
        goal: str,
        *,
        tools: Mapping[str, Tool] | None = None,
        skills: Mapping[str, Skill] | None = None,
    ) -> ToolResult:
        """Run one step of a plan (a tool step or a skill step) and return its result.

        Raises:
            ToolNotFoundError, ToolParameterError: a tool step's tool is unknown
                or its parameters are not accepted.
            ChainError: a skill step whose skill is not in ``skills``.
        """
        if step.kind == "skill":
            skill = (skills or {}).get(step.action)
            if skill is None:
                from victor_core.exceptions import ChainError

                raise ChainError(f"unknown skill {step.action!r}", steps=(step.id,))
            return await self.call(skill.name, skill.func, skill_kwargs(skill, step, inputs, goal))
        tool = (tools or {}).get(step.action)
        if tool is None:
            await self.registry.ensure_loaded()
            tool = self.registry.get(step.action)
        return await self.run_tool(tool, validate_params(tool, step_params(tool, step, inputs)))

    def close(self) -> None:
        """Release the backend's threads (running blocking tools finish in the background)."""
        if self._backend is not None:
            self._backend.close()

    async def aclose(self) -> None:
        """Awaitable :meth:`close`."""
        self.close()

    # -- machinery -----------------------------------------------------------------------

    def _resolve(self, item: Any, shared: Mapping[str, Any] | None) -> tuple[Tool, dict[str, Any]]:
        own: Mapping[str, Any] | None = None
        if isinstance(item, tuple) and len(item) == 2:
            item, own = item
        elif isinstance(item, Mapping):
            if "name" not in item:
                raise ToolParameterError(
                    f"a tool given as a dict needs a 'name' key (got {dict(item)!r})"
                )
            own = item.get("params", item.get("parameters"))
            item = item["name"]
        if isinstance(item, str):
            tool = self.registry.get(item)
        elif isinstance(item, Tool):
            tool = item
        else:
            raise ToolParameterError(
                "tools must be tool names, Tool objects, (name, params) pairs or "
                f"{{'name': ..., 'params': ...}} dicts (got {item!r})"
            )
        if not shared and not own:
            return tool, validate_params(tool, {})
        params = self.registry.accepted(tool, shared) if shared else {}
        if own:
            params.update(own)
        return tool, validate_params(tool, params)

    def _get_instruments(self, registry: MetricsRegistry) -> _Instruments:
        if self._instruments is None:
            self._instruments = _Instruments(registry)
        return self._instruments

    async def _finish_many(self, results: list[ToolResult], params: list[dict[str, Any]]) -> None:
        if self._metrics is not None:
            self._get_instruments(self._metrics).record_many(results)
        if self.plugin_manager is not None:
            await self._notify_many(self.plugin_manager, results, params)

    async def _notify_many(
        self,
        manager: pluggy.PluginManager,
        results: Sequence[ToolResult],
        params: Sequence[dict[str, Any]],
    ) -> None:
        """Dispatch ``victor_tool_result`` for each result, awaiting async observers together.

        The hook caller is looked up once; only implementations that return
        awaitables cost a task (pluggy calls the others in the loop below).
        """
        caller = hook_dispatcher(manager, "victor_tool_result")
        if caller is None:
            pairs = zip(results, params, strict=True)
            await asyncio.gather(*(self._notify(manager, r, p) for r, p in pairs))
            return
        pending = []
        for result, kwargs in zip(results, params, strict=True):
            try:
                out = caller(result=result, params=kwargs)
            except Exception as exc:
                _hook_failed(result, exc)
                continue
            if out and any(inspect.isawaitable(o) for o in out):
                pending.append(_settle(result, out))
        if pending:
            await asyncio.gather(*pending)

    @staticmethod
    async def _notify(
        manager: pluggy.PluginManager, result: ToolResult, params: dict[str, Any]
    ) -> None:
        try:
            await call_hook(manager, "victor_tool_result", result=result, params=params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _hook_failed(result, exc)


async def _settle(result: ToolResult, outcomes: list[Any]) -> None:
    """Await the awaitable outcomes of one ``victor_tool_result`` dispatch."""
    try:
        await gather_results(outcomes)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        _hook_failed(result, exc)


def _hook_failed(result: ToolResult, exc: Exception) -> None:
    # An observer's bug must not turn a tool's result into an error.
    from victor_core._log import get_logger

    get_logger().warning("tool_result_hook_failed", tool=result.name, error=error_text(exc))


def _rejected(exc: ToolNotFoundError | ToolParameterError) -> ToolResult:
    return ToolResult(name=exc.tool or "?", ok=False, error=str(exc), error_type=type(exc).__name__)
