"""Hook instrumentation: count and time every hook call of a plugin manager.

Nothing is installed until :func:`instrument` is called, so a plugin manager
without it dispatches exactly as plain pluggy does (the orchestrator calls it
only with ``hook_metrics_enabled``).

Hook calls are observed where pluggy's hook-call monitoring
(:meth:`pluggy.PluginManager.add_hookcall_monitoring`) observes them: around
``PluginManager._inner_hookexec``, the function every hook call goes through.
The public method serves whenever it is asked for (``public_api=True``) and
whenever ``_inner_hookexec`` is not there; by default this module sets
``_inner_hookexec`` itself, because pluggy's tracer builds a closure and a
``Result`` on every call: measured with ``victor bench dispatch``, a
one-implementation call costs 2.4x an uninstrumented one through it, against
1.4x here. This module is the only place that touches ``_inner_hookexec``.

Timing each implementation on its own has no public hook in pluggy either: it
wraps ``HookImpl.function`` (read by pluggy at every call) and puts the
original back on undo. ``tests/test_metrics.py`` pins both details, so a
pluggy release that changes them fails there, loudly.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from victor_core.metrics._types import _FOLD_EVERY

if TYPE_CHECKING:
    import pluggy
    from pluggy import HookImpl

    from victor_core.metrics._histogram import Timer
    from victor_core.metrics._registry import MetricsRegistry
    from victor_core.metrics._types import Counter

__all__ = ["instrument"]

#: ``id(impl) -> (impl, its original function)`` of every wrapped implementation.
_Wrapped = dict[int, tuple["HookImpl", Callable[..., Any]]]


class _HookState:
    """The series one hook feeds, and the implementations they were prepared for."""

    __slots__ = ("errors", "impls", "pending", "timer")

    def __init__(self, timer: Timer, errors: Counter, hook_impls: Sequence[HookImpl]) -> None:
        self.timer = timer
        self.pending = timer._pending
        self.errors = errors
        self.impls = list(hook_impls)


class _Instrumentation:
    """The metrics one :func:`instrument` call feeds, and what it wrapped."""

    def __init__(self, registry: MetricsRegistry, *, per_plugin: bool) -> None:
        self.hook_timer = registry.create_timer(
            "victor_hook_duration_seconds", "Time spent in hook calls", labels=("hook",)
        )
        self.hook_errors = registry.create_counter(
            "victor_hook_errors_total", "Hook calls that raised", labels=("hook",)
        )
        self.impl_timer = registry.create_timer(
            "victor_hookimpl_duration_seconds",
            "Time spent in each hook implementation",
            labels=("hook", "plugin"),
        )
        self.per_plugin = per_plugin
        self.states: dict[str, _HookState] = {}
        self.wrapped: _Wrapped = {}

    def state(self, hook_name: str, hook_impls: Sequence[HookImpl]) -> _HookState:
        """The state of ``hook_name``, prepared again when its implementations changed."""
        state = self.states.get(hook_name)
        # pluggy passes a fresh copy of the implementation list; comparing it
        # with the one the state was prepared for is one C-level identity scan.
        if state is None or state.impls != hook_impls:
            state = self._prepare(hook_name, hook_impls)
        return state

    def _prepare(self, hook_name: str, hook_impls: Sequence[HookImpl]) -> _HookState:
        timer = self.hook_timer.labels(hook_name)
        state = _HookState(timer, self.hook_errors.labels(hook_name), hook_impls)
        lone = self._wrap_impls(hook_name, hook_impls) if self.per_plugin else None
        # What the hook observes is credited to its lone implementation, if any.
        timer._feed((lone,) if lone is not None else ())
        self.states[hook_name] = state
        return state

    def _wrap_impls(self, hook_name: str, hook_impls: Sequence[HookImpl]) -> Timer | None:
        """Time each implementation; return the series of a lone sync one instead.

        A lone synchronous implementation needs no wrapper: the hook's own time
        is its time, so the hook's series feeds the implementation's and the
        call stays cheap. Wrappers (old and new style) surround the others and
        are not timed alone.
        """
        wrapped = self.wrapped
        plain = [i for i in hook_impls if not (i.hookwrapper or i.wrapper)]
        if (
            len(hook_impls) == 1
            and len(plain) == 1
            and id(plain[0]) not in wrapped
            and not inspect.iscoroutinefunction(plain[0].function)
        ):
            lone: Timer = self.impl_timer.labels(hook_name, plain[0].plugin_name or "?")
            return lone
        for impl in plain:
            if id(impl) in wrapped:
                continue
            original = impl.function
            wrapped[id(impl)] = (impl, original)
            series = self.impl_timer.labels(hook_name, impl.plugin_name or "?")
            # pluggy types it Final (read-only to plugins); see the module docstring.
            impl.function = _timed_function(original, series.observe)  # type: ignore[misc]
        return None

    def undo(self) -> None:
        """Stop feeding the implementations' series and restore their functions."""
        for state in self.states.values():
            state.timer._feed(())
        for impl, original in list(self.wrapped.values()):
            impl.function = original  # type: ignore[misc]  # restoring what we wrapped
        self.wrapped.clear()


def instrument(
    plugin_manager: pluggy.PluginManager,
    registry: MetricsRegistry,
    *,
    per_plugin: bool = True,
    public_api: bool = False,
) -> Callable[[], None]:
    """Count and time every hook call of ``plugin_manager`` into ``registry``.

    Feeds these metrics:

    - ``victor_hook_duration_seconds{hook}``: a timer; its count is the number of calls,
    - ``victor_hook_errors_total{hook}``: calls that raised,
    - with ``per_plugin``: ``victor_hookimpl_duration_seconds{hook,plugin}``, each
      implementation on its own (an ``async def`` one until its coroutine finishes).

    A one-implementation hook is timed once and credited to both series.
    Nothing is installed when ``registry.enabled`` is False.

    Args:
        plugin_manager: a pluggy plugin manager (victor-core's or a plain one).
        registry: where the figures go.
        per_plugin: also time each hook implementation.
        public_api: observe through ``add_hookcall_monitoring`` (slower per call; see
            the module docstring) even where the direct monitor can be installed.

    Returns:
        A callable that removes the monitoring and restores the implementations.
    """
    if not registry.enabled:
        return _noop
    meter = _Instrumentation(registry, per_plugin=per_plugin)
    inner = getattr(plugin_manager, "_inner_hookexec", None)
    if public_api or not callable(inner):
        undo_monitoring = _monitor_public(plugin_manager, meter)
    else:
        undo_monitoring = _monitor_direct(plugin_manager, meter, inner)

    def undo() -> None:
        undo_monitoring()
        meter.undo()

    return undo


def _observe(state: _HookState, elapsed: float) -> None:
    # Histogram.observe() inlined: this runs on every hook call.
    pending = state.pending
    pending.append(elapsed)
    if len(pending) >= _FOLD_EVERY:
        state.timer._fold()


def _monitor_direct(
    plugin_manager: pluggy.PluginManager,
    meter: _Instrumentation,
    inner: Callable[[str, Sequence[HookImpl], Mapping[str, object], bool], object],
) -> Callable[[], None]:
    """Wrap ``_inner_hookexec`` with the timing alone (what the public tracer wraps)."""
    state_of = meter.state
    clock = time.perf_counter

    def monitored(
        hook_name: str,
        hook_impls: Sequence[HookImpl],
        caller_kwargs: Mapping[str, object],
        firstresult: bool,
    ) -> object:
        state = state_of(hook_name, hook_impls)
        start = clock()
        try:
            return inner(hook_name, hook_impls, caller_kwargs, firstresult)
        except BaseException:
            state.errors.increment()
            raise
        finally:
            pending = state.pending
            pending.append(clock() - start)
            if len(pending) >= _FOLD_EVERY:
                state.timer._fold()

    original = plugin_manager._inner_hookexec
    plugin_manager._inner_hookexec = monitored

    def undo() -> None:
        if plugin_manager._inner_hookexec is monitored:
            plugin_manager._inner_hookexec = original

    return undo


def _monitor_public(
    plugin_manager: pluggy.PluginManager, meter: _Instrumentation
) -> Callable[[], None]:
    """Observe through ``add_hookcall_monitoring``."""
    state_of = meter.state
    clock = time.perf_counter
    # Start times by the identity of the call's keyword dict: pluggy hands
    # ``before`` and ``after`` the same dict, alive (so its id unique) for the
    # whole call, which keeps nested and concurrent calls apart without a
    # thread-local stack.
    starts: dict[int, float] = {}

    def before(
        hook_name: str, hook_impls: Sequence[HookImpl], kwargs: Mapping[str, object]
    ) -> None:
        state_of(hook_name, hook_impls)  # wraps the implementations before they run
        starts[id(kwargs)] = clock()

    def after(
        outcome: pluggy.Result[object],
        hook_name: str,
        hook_impls: Sequence[HookImpl],
        kwargs: Mapping[str, object],
    ) -> None:
        end = clock()
        start = starts.pop(id(kwargs), None)
        if start is None:  # one dict dispatched twice at once: skip the second
            return
        state = meter.states.get(hook_name)
        if state is None:  # undone during the call
            return
        if outcome.exception is not None:
            state.errors.increment()
        _observe(state, end - start)

    return plugin_manager.add_hookcall_monitoring(before, after)


def _noop() -> None:
    return None


def _timed_function(
    original: Callable[..., Any], observe: Callable[[float], None]
) -> Callable[..., Any]:
    clock = time.perf_counter
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def timed_async(*args: Any) -> Any:
            start = clock()
            try:
                return await original(*args)
            finally:
                observe(clock() - start)

        return timed_async

    @functools.wraps(original)
    def timed(*args: Any) -> Any:
        start = clock()
        try:
            return original(*args)
        finally:
            observe(clock() - start)

    return timed
