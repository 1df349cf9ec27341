"""Where tool calls run: the executor backend protocol and the built-in local backend.

:class:`~victor_core.execution.ToolExecutor` looks tools up, checks their
parameters, records metrics and dispatches ``victor_tool_result``; the
*backend* only runs calls. A backend takes :class:`ToolCall` values (a name,
a callable, its keyword parameters and a timeout) and gives back one
:class:`~victor_core.ToolResult` each, never raising for a tool's failure:

* ``await backend.run(call)``: one call;
* ``await backend.run_batch(calls, workers)``: many, at most ``workers`` at
  once, results in the order of ``calls``;
* ``backend.close()``: release what it holds (threads, connections).

:class:`LocalBackend` is the default (``executor_backend = "local"``): async
tools run on the event loop, blocking ones on a small pool of daemon threads,
each under its timeout. Daemon threads matter: Python cannot stop a thread,
so a blocking tool that never returns keeps its thread forever; a daemon
thread does not keep the process alive at exit, where the standard
``ThreadPoolExecutor``'s workers are joined and would hang it.

Another backend (``executor_backend = "ray"``, or a third party's) comes from
the hook ``victor_executor_backend(name, settings)`` of the ``backends``
family; see :func:`resolve_backend`.

This module imports asyncio; the orchestrator imports it on first use only.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from victor_core.exceptions import PoolClosedError, SettingsError
from victor_core.execution._clock import AVAILABLE as CLOCK_AVAILABLE
from victor_core.execution._clock import WorkerClock
from victor_core.models import ToolResult, is_async_callable

if TYPE_CHECKING:
    import pluggy

    from victor_core.settings import Settings

__all__ = [
    "ExecutorBackend",
    "LocalBackend",
    "ToolCall",
    "error_result",
    "resolve_backend",
    "run_bounded",
    "timeout_result",
]


class ToolCall(NamedTuple):
    """One call for a backend to run.

    Attributes:
        name: reported as the result's ``name`` (the tool or skill name).
        func: the sync or async callable.
        params: its keyword arguments (already validated).
        timeout: seconds it may run (None: no limit).
    """

    name: str
    func: Callable[..., Any]
    params: Mapping[str, Any]
    timeout: float | None


@runtime_checkable
class ExecutorBackend(Protocol):
    """What runs tool calls for a :class:`~victor_core.execution.ToolExecutor`.

    Every method returns results and never raises for a tool's failure: a
    tool that raises gives ``ok=False`` with ``error_type`` its exception's
    class name; one past its timeout gives ``error_type="ToolTimeoutError"``
    (use :func:`error_result` and :func:`timeout_result` for the same texts
    as the local backend).
    """

    #: The name ``executor_backend`` selects it by (``"local"``, ``"ray"``).
    name: str

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one call under its timeout."""
        ...

    async def run_batch(self, calls: Sequence[ToolCall], workers: int) -> list[ToolResult]:
        """Run ``calls``, at most ``workers`` at once; one result per call, in order."""
        ...

    def close(self) -> None:
        """Release threads, connections or clusters the backend holds."""
        ...


def error_text(exc: BaseException) -> str:
    """``"ValueError: bad input"`` - an exception in one line."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_result(name: str, exc: BaseException, started: float) -> ToolResult:
    """The result of a call that raised ``exc`` (``started`` from ``time.perf_counter()``)."""
    return ToolResult(
        name=name,
        ok=False,
        error=error_text(exc),
        error_type=type(exc).__name__,
        duration_s=time.perf_counter() - started,
    )


def timeout_result(name: str, timeout: float | None, started: float) -> ToolResult:
    """The result of a call that ran past ``timeout`` seconds."""
    return ToolResult(
        name=name,
        ok=False,
        error=f"tool {name!r} timed out after {timeout or 0:g} s "
        "(its timeout or tool_execution_timeout)",
        error_type="ToolTimeoutError",
        duration_s=time.perf_counter() - started,
    )


async def run_bounded(thunks: Sequence[Callable[[], Awaitable[Any]]], workers: int) -> list[Any]:
    """Await ``thunks`` with at most ``workers`` running at once; results in input order.

    ``workers`` tasks pull the next thunk as they finish one, so the bound
    holds without a semaphore and costs one task per worker, not per item.
    If the caller is cancelled, every running thunk is cancelled and awaited
    before the cancellation propagates.
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


# -- the daemon thread pool ---------------------------------------------------------------


class _Job:
    __slots__ = ("abandoned", "args", "func", "future", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        func: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        self.loop = loop
        self.future = future
        self.func = func
        self.args = args
        self.abandoned = False


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # timed out or cancelled meanwhile
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class DaemonPool:
    """At most ``size`` daemon threads running blocking calls for an event loop.

    Threads start on demand and wait for more work when idle. A thread whose
    call is abandoned (it timed out) stops counting against ``size`` and ends
    when the call returns, so hung calls never starve later ones; being a
    daemon, it never keeps the process alive at exit.
    """

    def __init__(self, size: int, name: str = "victor-tool") -> None:
        self.size = size
        self._name = name
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Semaphore(0)
        self._live = 0
        self._spawned = 0
        self._closed = False

    @property
    def live(self) -> int:
        """Threads counting against ``size`` (abandoned ones excluded)."""
        return self._live

    def submit(self, func: Callable[..., Any], *args: Any) -> tuple[asyncio.Future[Any], _Job]:
        """Run ``func(*args)`` on a pool thread; an asyncio future of its outcome, and the job."""
        if self._closed:
            raise PoolClosedError("the tool thread pool is closed", pool="tool threads")
        loop = asyncio.get_running_loop()
        job = _Job(loop, loop.create_future(), func, args)
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if self._live < self.size:
                    self._live += 1
                    self._spawned += 1
                    thread = threading.Thread(
                        target=self._work, name=f"{self._name}-{self._spawned}", daemon=True
                    )
                    thread.start()
        self._queue.put(job)
        return job.future, job

    def abandon(self, job: _Job) -> None:
        """Stop counting ``job``'s thread: it ends when the call returns."""
        with self._lock:
            if not job.abandoned:
                job.abandoned = True
                self._live -= 1

    def close(self) -> None:
        """Tell idle threads to end (running calls finish in the background)."""
        self._closed = True
        for _ in range(self._live):
            self._queue.put(None)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                value, ok = job.func(*job.args), True
            except BaseException as exc:  # handed to the awaiting coroutine
                value, ok = exc, False
            # A closed loop (RuntimeError): nobody waits for this result any more.
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_settle, job.future, ok, value)
            del value
            with self._lock:
                if job.abandoned:
                    return
            self._idle.release()


# -- the local backend ----------------------------------------------------------------------


class _Raised(Exception):
    """Carries an exception raised by the tool itself (apart from the executor's timeout)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(exc)
        self.exc = exc


def _call_sync(func: Callable[..., Any], params: Mapping[str, Any]) -> Any:
    try:
        return func(**params)
    except Exception as exc:
        raise _Raised(exc) from exc


async def _guarded(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
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


class LocalBackend:
    """The built-in backend: async calls on the event loop, blocking ones on daemon threads.

    Args:
        threads: most blocking calls running at once (``max_parallel_workers``).
    """

    name = "local"

    def __init__(self, threads: int = 8) -> None:
        self.threads = threads
        self._pool: DaemonPool | None = None
        self._async: dict[Any, bool] = {}

    @property
    def pool(self) -> DaemonPool:
        """The daemon thread pool (started on first use, grown to ``threads``)."""
        pool = self._pool
        if pool is None or pool._closed:
            pool = self._pool = DaemonPool(self.threads)
        elif pool.size < self.threads:
            pool.size = self.threads
        return pool

    def _is_async(self, func: Callable[..., Any]) -> bool:
        try:
            return self._async[func]
        except KeyError:
            answer = is_async_callable(func)
            if len(self._async) < 4096:
                self._async[func] = answer
            return answer
        except TypeError:  # unhashable callable
            return is_async_callable(func)

    async def run(self, call: ToolCall) -> ToolResult:
        """Run ``call`` under its timeout (see :class:`ExecutorBackend`)."""
        name, func, params, timeout = call
        started = time.perf_counter()
        job: _Job | None = None
        try:
            if self._is_async(func):
                value = await _within(_guarded(func(**params)), timeout)
            else:
                future, job = self.pool.submit(
                    contextvars.copy_context().run, _call_sync, func, params
                )
                value = await _within(future, timeout)
                if inspect.isawaitable(value):
                    # A plain function that returned a coroutine (a lambda, a partial).
                    job = None
                    value = await _within(_guarded(value), timeout)
        except _Raised as raised:
            return error_result(name, raised.exc, started)
        except (TimeoutError, asyncio.TimeoutError):
            if job is not None:
                self._abandon(name, job)
            return timeout_result(name, timeout, started)
        return ToolResult(name=name, ok=True, value=value, duration_s=time.perf_counter() - started)

    async def run_batch(self, calls: Sequence[ToolCall], workers: int) -> list[ToolResult]:
        """Run ``calls``, at most ``workers`` at once, results in order.

        Each worker keeps one :class:`~victor_core.execution._clock.WorkerClock`
        for the timeouts of the async calls it runs in turn (see :meth:`_run_clocked`).
        """
        if not CLOCK_AVAILABLE:  # pragma: no cover - Python 3.10
            run = self.run
            return await run_bounded([_bind(run, call) for call in calls], workers)
        results: list[Any] = [None] * len(calls)
        pending = iter(range(len(calls)))

        async def worker() -> None:
            clock = WorkerClock()
            try:
                for index in pending:
                    results[index] = await self._run_clocked(calls[index], clock)
            finally:
                clock.close()

        await run_bounded([worker] * min(max(workers, 1), len(calls)), workers)
        return results

    async def _run_clocked(self, call: ToolCall, clock: WorkerClock) -> ToolResult:
        """:meth:`run`, an async call's timeout kept by ``clock`` instead of ``asyncio.timeout``."""
        name, func, params, timeout = call
        if not self._is_async(func):
            return await self.run(call)
        started = time.perf_counter()
        coro = func(**params)
        clock.enter(timeout)
        try:
            value = await coro
        except asyncio.CancelledError:
            if clock.leave(True):
                return timeout_result(name, timeout, started)
            raise
        except Exception as exc:  # the tool's own error (its own TimeoutError too)
            clock.leave(False)
            return error_result(name, exc, started)
        except BaseException:
            clock.leave(False)
            raise
        clock.leave(False)
        return ToolResult(name=name, ok=True, value=value, duration_s=time.perf_counter() - started)

    def _abandon(self, name: str, job: _Job) -> None:
        if self._pool is not None:
            self._pool.abandon(job)
        from victor_core._log import get_logger

        get_logger().warning("tool_thread_abandoned", tool=name)

    def close(self) -> None:
        """End the idle threads (running blocking calls finish in the background)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _bind(func: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    def thunk() -> Awaitable[Any]:
        return func(*args)

    return thunk


# -- choosing a backend ---------------------------------------------------------------------


def resolve_backend(
    name: str, settings: Settings, plugin_manager: pluggy.PluginManager | None
) -> ExecutorBackend:
    """The backend called ``name``: the local one, or the answer of ``victor_executor_backend``.

    Raises:
        SettingsError: no plugin answers for ``name`` (the message names the
            known backends), or the answer is not an :class:`ExecutorBackend`.
    """
    if name == "local":
        return LocalBackend(int(settings.max_parallel_workers))
    answer: Any = None
    if plugin_manager is not None:
        answer = plugin_manager.hook.victor_executor_backend(name=name, settings=settings)
    if answer is None:
        known = ["local", *_advertised(plugin_manager)]
        raise SettingsError(
            f"executor_backend {name!r}: no installed plugin provides it; known backends: "
            f"{', '.join(map(repr, sorted(set(known))))} (install victor-ray for 'ray')",
            field="executor_backend",
            value=name,
        )
    if not isinstance(answer, ExecutorBackend):
        raise SettingsError(
            f"executor_backend {name!r}: victor_executor_backend() returned {answer!r}, "
            "which is not an executor backend (it needs name, run, run_batch and close)",
            field="executor_backend",
            value=name,
        )
    return answer


def _advertised(plugin_manager: pluggy.PluginManager | None) -> list[str]:
    """Backend names the installed ``backends`` plugins say they answer (best effort)."""
    names: list[str] = []
    if plugin_manager is None:
        return names
    try:
        impls = plugin_manager.hook.victor_executor_backend.get_hookimpls()
    except Exception:  # only a hint in an error message
        return names
    for impl in impls:
        declared = getattr(impl.plugin, "EXECUTOR_BACKENDS", None)
        if isinstance(declared, (list, tuple)):
            names.extend(str(n) for n in declared)
    return names


def check_workers(max_workers: int | None, default: int) -> int:
    """``max_workers`` checked (a positive int), or ``default`` when None.

    Raises:
        SettingsError: not a positive int.
    """
    if max_workers is None:
        return int(default)
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise SettingsError(
            f"max_workers must be an int of at least 1 or None (got {max_workers!r})",
            field="max_workers",
            value=max_workers,
        )
    return max_workers
