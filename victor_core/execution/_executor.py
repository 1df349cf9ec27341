"""Running tools: one at a time, many at once, and plans in dependency waves.

:class:`ToolExecutor` runs async tools on the event loop and blocking tools on
a bounded thread pool, each under its timeout, and turns every outcome into a
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
import contextvars
import inspect
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import SettingsError, ToolNotFoundError, ToolParameterError
from victor_core.execution._tools import ToolRegistry, call_hook, validate_params
from victor_core.models import (
    Plan,
    PlanResult,
    PlanStep,
    StepResult,
    Tool,
    ToolResult,
    is_async_callable,
)

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from victor_core.settings import Settings

__all__ = ["StepRunner", "ToolExecutor"]

#: ``async run_step(step, inputs) -> ToolResult`` - how :meth:`ToolExecutor.execute_plan`
#: runs one step; ``inputs`` maps the ids of the step's dependencies to their values.
StepRunner = Callable[[PlanStep, dict[str, Any]], Awaitable[ToolResult]]


class _Raised(Exception):
    """Carries an exception raised by the tool itself.

    Wrapping keeps a ``TimeoutError`` raised inside a tool apart from the
    executor's own timeout.
    """

    def __init__(self, exc: BaseException) -> None:
        super().__init__(exc)
        self.exc = exc


def _call_sync(func: Callable[..., Any], params: Mapping[str, Any]) -> Any:
    try:
        return func(**params)
    except Exception as exc:
        raise _Raised(exc) from exc


if sys.version_info >= (3, 11):

    async def _within(awaitable: Awaitable[Any], timeout: float | None) -> Any:
        # asyncio.timeout() needs no extra task, unlike wait_for before 3.12.
        async with asyncio.timeout(timeout):
            return await awaitable

else:  # pragma: no cover - exercised on 3.10 only

    async def _within(awaitable: Awaitable[Any], timeout: float | None) -> Any:
        return await asyncio.wait_for(awaitable, timeout)


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Instruments:
    """The executor's metrics, created once on the registry it was given."""

    def __init__(self, registry: Any) -> None:
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


class ToolExecutor:
    """Runs the tools of a :class:`~victor_core.tools.ToolRegistry`.

    Args:
        settings: ``max_parallel_workers``, ``parallel_threshold``,
            ``parallel_execution_enabled`` and ``tool_execution_timeout`` are
            read at every call, so changing them takes effect at once.
        registry: where tools are looked up (plugin tools load on first use).
        plugin_manager: when given, ``victor_tool_result(result, params)`` is
            dispatched after every tool execution.
        metrics: a :class:`~victor_core.metrics.MetricsRegistry` (or anything with
            ``create_counter`` and ``create_timer``) that records executions,
            errors, timeouts and run time.
    """

    def __init__(
        self,
        settings: Settings,
        registry: ToolRegistry,
        *,
        plugin_manager: Any = None,
        metrics: Any = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.plugin_manager = plugin_manager
        self._metrics = metrics
        self._instruments: _Instruments | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0

    # -- public API -------------------------------------------------------------------

    async def execute(self, name: str, /, **params: Any) -> ToolResult:
        """Run the tool ``name`` with keyword ``params``.

        Returns:
            The result; ``ok`` is False when the tool raised or timed out.

        Raises:
            ToolNotFoundError: no tool of that name (the message names close matches).
            ToolParameterError: unknown or missing parameters (the message lists
                what the tool accepts).
        """
        await self.registry.ensure_loaded()
        tool = self.registry.get(name)
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
            SettingsError: ``max_workers`` is not a positive int.
        """
        workers = self._workers(max_workers)
        await self.registry.ensure_loaded()
        if isinstance(tools, (str, Tool)):
            tools = [tools]
        thunks: list[Callable[[], Awaitable[ToolResult]]] = []
        blocking = False
        for item in tools:
            try:
                tool, params = self._resolve(item, parameters)
            except (ToolNotFoundError, ToolParameterError) as exc:
                if exc.tool is None:
                    raise  # not a tool reference at all: a bug in the calling code
                thunks.append(_bind(_rejected, exc))
                continue
            blocking = blocking or not tool.is_async
            thunks.append(_bind(self.run_tool, tool, params))
        if not thunks:
            return []
        settings = self.settings
        if not settings.parallel_execution_enabled or len(thunks) < settings.parallel_threshold:
            workers = 1
        elif blocking and workers > self._pool_size:
            self._thread_pool(workers)
        return await self.run_bounded(thunks, workers)

    async def call(
        self,
        name: str,
        func: Callable[..., Any],
        params: Mapping[str, Any],
        *,
        timeout: float | None = None,
    ) -> ToolResult:
        """Run any callable with the executor's guarantees (thread pool, timeout, result).

        Used for skills; no hook is dispatched and no tool metric recorded.

        Args:
            name: reported as the result's ``name``.
            func: sync or async callable taking ``params`` as keywords.
            params: keyword arguments.
            timeout: seconds (default ``tool_execution_timeout``).
        """
        limit = self.settings.tool_execution_timeout if timeout is None else timeout
        return await self._run(name, func, params, limit)

    async def run_bounded(
        self, thunks: Sequence[Callable[[], Awaitable[Any]]], workers: int
    ) -> list[Any]:
        """Await ``thunks`` with at most ``workers`` running at once; results in input order.

        ``workers`` tasks pull the next thunk as they finish one, so the bound
        holds without a semaphore and costs one task per worker, not per
        item. If the caller is cancelled, every running thunk is cancelled and
        awaited before the cancellation propagates.
        """
        count = len(thunks)
        if workers <= 1 or count <= 1:
            return [await thunk() for thunk in thunks]
        results: list[Any] = [None] * count
        pending = iter(range(count))

        async def worker() -> None:
            for index in pending:
                results[index] = await thunks[index]()

        tasks = [asyncio.ensure_future(worker()) for _ in range(min(workers, count))]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return results

    async def execute_plan(
        self,
        plan: Plan,
        run_step: StepRunner,
        *,
        parallel: bool = True,
        max_workers: int | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> PlanResult:
        """Run ``plan``'s steps in dependency waves.

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
        waves = plan.waves()
        workers = self._workers(max_workers) if parallel else 1
        base = dict(inputs or {})
        done: dict[str, StepResult] = {}
        start = time.perf_counter()

        async def one(step: PlanStep, wave: int) -> StepResult:
            step_inputs = {**base, **{dep: done[dep].value for dep in step.depends_on}}
            result = await run_step(step, step_inputs)
            status = (
                "ok"
                if result.ok
                else ("timeout" if result.error_type == "ToolTimeoutError" else "failed")
            )
            return StepResult(
                id=step.id,
                action=step.action,
                kind=step.kind,
                status=status,
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
                    done[step.id] = StepResult(
                        id=step.id,
                        action=step.action,
                        kind=step.kind,
                        status="skipped",
                        error=f"skipped: dependency {', '.join(map(repr, blocked))} failed",
                        error_type="SkippedStep",
                        wave=index,
                    )
                else:
                    runnable.append(step)
            outcomes = await self.run_bounded(
                [_bind(one, step, index) for step in runnable], workers
            )
            for outcome in outcomes:
                done[outcome.id] = outcome
        steps: tuple[StepResult, ...] = tuple(done[step.id] for step in plan.steps)
        return PlanResult(
            goal=plan.goal,
            steps=steps,
            duration_s=time.perf_counter() - start,
            waves=tuple(tuple(step.id for step in wave) for wave in waves),
            metadata=plan.metadata,
        )

    def close(self) -> None:
        """Shut the thread pool down (running blocking tools finish in the background)."""
        pool, self._pool = self._pool, None
        self._pool_size = 0
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """Awaitable :meth:`close`."""
        self.close()

    # -- machinery -----------------------------------------------------------------------

    def _workers(self, max_workers: int | None) -> int:
        if max_workers is None:
            return int(self.settings.max_parallel_workers)
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise SettingsError(
                f"max_workers must be an int of at least 1 or None (got {max_workers!r})",
                field="max_workers",
                value=max_workers,
            )
        return max_workers

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
        if isinstance(item, Tool):
            tool = item
        elif isinstance(item, str):
            tool = self.registry.get(item)
        else:
            raise ToolParameterError(
                "tools must be tool names, Tool objects, (name, params) pairs or "
                f"{{'name': ..., 'params': ...}} dicts (got {item!r})"
            )
        params = self.registry.accepted(tool, shared) if shared else {}
        if own:
            params.update(own)
        return tool, validate_params(tool, params)

    def _thread_pool(self, size: int) -> ThreadPoolExecutor:
        if self._pool is None or self._pool_size < size:
            from concurrent.futures import ThreadPoolExecutor

            old = self._pool
            self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="victor-tool")
            self._pool_size = size
            if old is not None:
                old.shutdown(wait=False)
        return self._pool

    def _retire_pool(self, name: str) -> None:
        """Leave the pool to a thread that timed out; new work gets a fresh pool.

        Python cannot stop a thread, so a timed-out blocking tool keeps its
        worker until it returns. Without this, a few hung tools would hold
        every worker and make the next blocking tools queue and time out.
        """
        pool, self._pool = self._pool, None
        self._pool_size = 0
        if pool is not None:
            pool.shutdown(wait=False)
        from victor_core._log import get_logger

        get_logger().warning("tool_thread_abandoned", tool=name)

    async def _invoke(
        self, func: Callable[..., Any], params: Mapping[str, Any], is_async: bool
    ) -> Any:
        if is_async:
            try:
                return await func(**params)
            except Exception as exc:
                raise _Raised(exc) from exc
        loop = asyncio.get_running_loop()
        pool = self._thread_pool(max(self._pool_size, int(self.settings.max_parallel_workers)))
        context = contextvars.copy_context()
        value = await loop.run_in_executor(pool, context.run, _call_sync, func, params)
        if inspect.isawaitable(value):
            # A plain function that returned a coroutine (a lambda, a partial).
            try:
                value = await value
            except Exception as exc:
                raise _Raised(exc) from exc
        return value

    async def _run(
        self,
        name: str,
        func: Callable[..., Any],
        params: Mapping[str, Any],
        timeout: float | None,
    ) -> ToolResult:
        start = time.perf_counter()
        is_async = is_async_callable(func)
        try:
            value = await _within(self._invoke(func, params, is_async), timeout)
        except _Raised as raised:
            exc = raised.exc
            return ToolResult(
                name=name,
                ok=False,
                error=_error_text(exc),
                error_type=type(exc).__name__,
                duration_s=time.perf_counter() - start,
            )
        except (TimeoutError, asyncio.TimeoutError):
            if not is_async:
                self._retire_pool(name)
            return ToolResult(
                name=name,
                ok=False,
                error=f"tool {name!r} timed out after {timeout:g} s "
                "(its timeout or tool_execution_timeout)",
                error_type="ToolTimeoutError",
                duration_s=time.perf_counter() - start,
            )
        return ToolResult(name=name, ok=True, value=value, duration_s=time.perf_counter() - start)

    async def run_tool(self, tool: Tool, params: dict[str, Any]) -> ToolResult:
        """Run ``tool`` with already validated ``params``: timeout, metrics, result hook."""
        timeout = tool.timeout if tool.timeout is not None else self.settings.tool_execution_timeout
        instruments = self._get_instruments()
        if instruments is None:
            result = await self._run(tool.name, tool.func, params, timeout)
        else:
            with instruments.timer.time():
                result = await self._run(tool.name, tool.func, params, timeout)
            instruments.executions.increment()
            if not result.ok:
                instruments.errors.increment()
                if result.error_type == "ToolTimeoutError":
                    instruments.timeouts.increment()
        if self.plugin_manager is not None:
            await self._notify(result, params)
        return result

    def _get_instruments(self) -> _Instruments | None:
        if self._metrics is None:
            return None
        if self._instruments is None:
            self._instruments = _Instruments(self._metrics)
        return self._instruments

    async def _notify(self, result: ToolResult, params: dict[str, Any]) -> None:
        try:
            await call_hook(self.plugin_manager, "victor_tool_result", result=result, params=params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # An observer's bug must not turn a tool's result into an error.
            from victor_core._log import get_logger

            get_logger().warning(
                "tool_result_hook_failed", tool=result.name, error=_error_text(exc)
            )


async def _rejected(exc: ToolNotFoundError | ToolParameterError) -> ToolResult:
    return ToolResult(name=exc.tool or "?", ok=False, error=str(exc), error_type=type(exc).__name__)


def _bind(func: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    def thunk() -> Awaitable[Any]:
        return func(*args)

    return thunk
