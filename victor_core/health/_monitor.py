"""Process figures, the ``get_metrics()`` summary, and the threshold monitor.

:func:`collect_metrics` turns a :class:`~victor_core.metrics.MetricsRegistry`
into the summary the user's guide reads::

    metrics = await orchestrator.get_metrics()
    if metrics["avg_latency"] > 2000:  # milliseconds
        ...

``avg_latency``, the percentiles and ``error_rate`` describe *requests*: the
outermost user-facing operations that happened, taken from the first entry of
:data:`REQUESTS` with observations (agent turns, else tool executions), so
that a turn and the tools it ran are not counted twice. A registry with none
of those (your own metrics) uses every unlabelled timer outside the hook
instrumentation, and every counter whose name mentions an error or failure.
Every timer is reported on its own under ``operations``.

:class:`Monitor` checks those figures at an interval and logs structured
warnings; it is opt-in (``monitoring_enabled``).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from victor_core import _process
from victor_core._log import get_logger
from victor_core._tasks import cancel_task
from victor_core.exceptions import MonitoringError
from victor_core.metrics._registry import MetricsRegistry
from victor_core.metrics._types import quantile

if TYPE_CHECKING:
    import asyncio

    from victor_core._process import ProcessProbe

__all__ = [
    "REQUESTS",
    "Monitor",
    "MonitorConfig",
    "MonitoringError",
    "check_thresholds",
    "collect_metrics",
    "process_gauges",
    "process_stats",
]

_HOOK_PREFIX = "victor_hook"

#: ``(timer, error counter)`` of user-facing operations, outermost first.
REQUESTS: tuple[tuple[str, str], ...] = (
    ("victor_agent_run_seconds", "victor_agent_failed_runs_total"),
    ("tool_execution_time", "tool_errors_total"),
)
_MB = 1024.0 * 1024.0


# --- process figures ---------------------------------------------------------------


def _rss_bytes(probe: ProcessProbe) -> float:
    rss = probe.rss_bytes()
    return math.nan if rss is None else float(rss)


def process_stats(probe: ProcessProbe | None = None) -> dict[str, float]:
    """``memory_usage`` (resident MB, NaN if unknown), ``cpu_time`` (user + system s)
    and ``uptime`` (s), read through ``probe`` (default: this process)."""
    probe = probe if probe is not None else _process.probe
    return {
        "memory_usage": _rss_bytes(probe) / _MB,
        "cpu_time": probe.cpu_seconds(),
        "uptime": max(0.0, time.time() - probe.start_time()),
    }


def process_gauges(
    registry: MetricsRegistry | None = None,
    *,
    plugin_manager: PluginLister | None = None,
    probe: ProcessProbe | None = None,
) -> MetricsRegistry:
    """Register metrics that read the process (and plugin) state whenever they are read.

    So a registry exports meaningful figures even in a process that has done
    nothing yet: the gauges ``process_resident_memory_bytes``,
    ``process_start_time_seconds``, ``process_threads``, the counter
    ``process_cpu_seconds_total`` and, with a plugin manager, the gauges
    ``victor_plugins_discovered`` and ``victor_plugins_loaded``.

    Args:
        registry: where to register them (default: a new registry).
        plugin_manager: anything with ``list_plugins()`` returning objects with ``loaded``.
        probe: reads the process (default: this process).

    Returns:
        The registry.
    """
    import threading

    probe = probe if probe is not None else _process.probe
    registry = registry if registry is not None else MetricsRegistry()
    registry.create_gauge(
        "process_resident_memory_bytes", "Resident memory size in bytes"
    ).set_function(lambda: _rss_bytes(probe))
    registry.create_counter(
        "process_cpu_seconds_total", "User and system CPU time spent in seconds"
    ).set_function(probe.cpu_seconds)
    registry.create_gauge(
        "process_start_time_seconds", "Start time of the process since the epoch in seconds"
    ).set_function(probe.start_time)
    registry.create_gauge("process_threads", "Number of Python threads").set_function(
        threading.active_count
    )
    if plugin_manager is not None:
        manager = plugin_manager
        registry.create_gauge(
            "victor_plugins_discovered", "Plugins found through entry points or registered"
        ).set_function(lambda: _plugin_counts(manager)[0])
        registry.create_gauge(
            "victor_plugins_loaded", "Plugins imported and registered"
        ).set_function(lambda: _plugin_counts(manager)[1])
    return registry


class _PluginInfo(Protocol):
    @property
    def loaded(self) -> bool: ...

    @property
    def error(self) -> object: ...


class PluginLister(Protocol):
    """What the plugin figures need of a plugin manager."""

    def list_plugins(self) -> Iterable[_PluginInfo]:
        """Every plugin known, loaded or not."""
        ...


def _plugin_counts(plugin_manager: PluginLister) -> tuple[int, int, int]:
    plugins = list(plugin_manager.list_plugins())
    loaded = sum(1 for p in plugins if getattr(p, "loaded", False))
    failed = sum(1 for p in plugins if getattr(p, "error", None))
    return len(plugins), loaded, failed


# --- the summary -------------------------------------------------------------------


def collect_metrics(
    registry: MetricsRegistry,
    *,
    plugin_manager: PluginLister | None = None,
    cache_stats: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary behind ``get_metrics()``.

    Args:
        registry: the metrics to summarise.
        plugin_manager: adds ``plugins_discovered``, ``plugins_loaded``, ``plugins_failed``.
        cache_stats: the caches' statistics, reported under ``cache`` (with
            ``cache_hit_rate`` beside it when present).

    Returns:
        ``avg_latency``, ``p50_latency``, ``p95_latency``, ``p99_latency`` (ms over
        requests; 0.0 before the first one), ``requests``, ``errors``,
        ``error_rate``, ``total_latency_ms``, ``latency_source`` (the timer(s)
        requests were read from, None before any), ``memory_usage`` (resident MB),
        ``cpu_time`` (s), ``uptime`` (s), ``operations`` (per timer), ``hooks``
        (per hook: calls, errors, avg_ms, p95_ms, total_ms), ``hookimpls`` (per
        ``hook/plugin``), and the plugin and cache figures when given.
    """
    operations: dict[str, dict[str, Any]] = {}
    for metric in registry:
        if metric.kind == "timer" and not metric.name.startswith(_HOOK_PREFIX):
            for labels, series in metric.series():
                operations[_series_key(metric.name, labels)] = _timing_summary(series.stats())
    doc = _request_figures(registry)
    doc.update(process_stats())
    if plugin_manager is not None:
        discovered, loaded, failed = _plugin_counts(plugin_manager)
        doc["plugins_discovered"] = discovered
        doc["plugins_loaded"] = loaded
        doc["plugins_failed"] = failed
    if cache_stats is not None:
        doc["cache"] = cache_stats
        if "hit_rate" in cache_stats:
            doc["cache_hit_rate"] = cache_stats["hit_rate"]
    doc["operations"] = operations
    doc["hooks"], doc["hookimpls"] = _hook_figures(registry)
    return doc


def _request_figures(registry: MetricsRegistry) -> dict[str, Any]:
    """The request latencies (ms), counts and error rate of :func:`collect_metrics`."""
    timers, error_counters, source = _request_metrics(registry)
    requests = 0
    total_s = 0.0
    window: list[float] = []
    for timer in timers:
        requests += timer.count
        total_s += timer.sum
        with timer._lock:
            window.extend(timer._recent)
    errors = sum(counter.value for counter in error_counters)
    window.sort()
    return {
        "avg_latency": total_s * 1000.0 / requests if requests else 0.0,
        "p50_latency": _ms(quantile(window, 0.50)),
        "p95_latency": _ms(quantile(window, 0.95)),
        "p99_latency": _ms(quantile(window, 0.99)),
        "requests": requests,
        "errors": errors,
        "error_rate": min(1.0, errors / requests) if requests else 0.0,
        "total_latency_ms": total_s * 1000.0,
        "latency_source": source,
    }


def _request_metrics(registry: MetricsRegistry) -> tuple[list[Any], list[Any], str | None]:
    """The timers and error counters that define requests, and the timer's name."""
    for timer_name, errors_name in REQUESTS:
        timer = registry.get(timer_name)
        if timer is not None and timer.kind == "timer" and not timer.labelnames and timer.count:
            counter = registry.get(errors_name)
            counters = [counter] if counter is not None and counter.kind == "counter" else []
            return [timer], counters, timer_name
    timers = [
        m
        for m in registry
        if m.kind == "timer" and not m.labelnames and not m.name.startswith(_HOOK_PREFIX)
    ]
    counters = [
        m
        for m in registry
        if m.kind == "counter"
        and not m.name.startswith(_HOOK_PREFIX)
        and ("error" in m.name or "fail" in m.name)
    ]
    used = [t for t in timers if t.count]
    source = ", ".join(t.name for t in used) if used else None
    return timers, counters, source


def _hook_figures(
    registry: MetricsRegistry,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    hooks: dict[str, dict[str, Any]] = {}
    impls: dict[str, dict[str, Any]] = {}
    timer = registry.get("victor_hook_duration_seconds")
    errors = registry.get("victor_hook_errors_total")
    error_counts: dict[str, float] = {}
    if errors is not None:
        error_counts = {labels["hook"]: s.value for labels, s in errors.series()}
    if timer is not None:
        for labels, series in timer.series():
            figures = _timing_summary(series.stats())
            figures["errors"] = error_counts.get(labels["hook"], 0)
            hooks[labels["hook"]] = figures
    impl_timer = registry.get("victor_hookimpl_duration_seconds")
    if impl_timer is not None:
        for labels, series in impl_timer.series():
            impls[f"{labels['hook']}/{labels['plugin']}"] = _timing_summary(series.stats())
    return hooks, impls


def _timing_summary(stats: dict[str, Any]) -> dict[str, Any]:
    count = stats["count"]
    return {
        "calls": count,
        "avg_ms": stats["sum"] * 1000.0 / count if count else 0.0,
        "p95_ms": _ms(stats["p95"]),
        "total_ms": stats["sum"] * 1000.0,
    }


def _series_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in labels.items()) + "}"


def _ms(seconds: float | None) -> float:
    return 0.0 if seconds is None else seconds * 1000.0


# --- the monitor -------------------------------------------------------------------


@attrs.frozen
class MonitorConfig:
    """The thresholds the monitor checks; the orchestrator builds it from the settings.

    Attributes:
        interval: ``monitoring_interval``: seconds between checks.
        latency_warning_ms: ``latency_warning_ms``.
        error_rate_threshold: ``error_rate_threshold``.
    """

    interval: float = 60.0
    latency_warning_ms: float = 1000.0
    error_rate_threshold: float = 0.05


class Logger(Protocol):
    """The part of a structlog logger the monitor uses."""

    def warning(self, event: str, **fields: Any) -> Any:
        """Log ``event`` at warning level."""


def check_thresholds(
    metrics: dict[str, Any], config: MonitorConfig
) -> list[tuple[str, dict[str, Any]]]:
    """The warnings ``metrics`` deserve under ``config``, as ``(event, fields)`` pairs.

    Checks ``avg_latency > latency_warning_ms`` and ``error_rate >
    error_rate_threshold``. Memory is the watchdog's
    (:class:`~victor_core.health.MemoryMonitor`), which warns once per crossing.
    """
    warnings: list[tuple[str, dict[str, Any]]] = []
    latency = metrics.get("avg_latency")
    if isinstance(latency, (int, float)) and latency > config.latency_warning_ms:
        warnings.append(
            (
                "high_latency",
                {"avg_latency_ms": latency, "threshold_ms": config.latency_warning_ms},
            )
        )
    rate = metrics.get("error_rate")
    if isinstance(rate, (int, float)) and rate > config.error_rate_threshold:
        warnings.append(
            ("high_error_rate", {"error_rate": rate, "threshold": config.error_rate_threshold})
        )
    return warnings


MetricsSource = Callable[[], "dict[str, Any] | Awaitable[dict[str, Any]]"]


class Monitor:
    """A background task that checks ``get_metrics()`` against latency and error thresholds.

    Latency and error rate are judged over the interval since the previous
    check when the figures allow it (``requests``, ``errors``,
    ``total_latency_ms``), so an old burst does not keep warning forever.

    Args:
        config: the interval and the thresholds.
        get_metrics: returns the metrics dict, or an awaitable of it.
        logger: a structlog-style logger (default: ``victor_core``'s).
    """

    def __init__(
        self,
        config: MonitorConfig,
        get_metrics: MetricsSource,
        *,
        logger: Logger | None = None,
    ) -> None:
        self.config = config
        self._get_metrics = get_metrics
        self._logger = logger
        self._task: asyncio.Task[None] | None = None
        self._previous: dict[str, Any] | None = None
        self.checks = 0
        self.last_warnings: list[tuple[str, dict[str, Any]]] = []

    @property
    def running(self) -> bool:
        """True while the background task runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start checking every ``interval`` seconds (idempotent).

        Raises:
            MonitoringError: no event loop is running in this thread.
        """
        import asyncio

        if self.running:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise MonitoringError(
                "Monitor.start() needs a running asyncio event loop; call it from async code"
            ) from None
        self._task = loop.create_task(self._run(), name="victor-core-monitor")

    async def stop(self) -> None:
        """Stop the background task and wait for it to end (idempotent)."""
        task, self._task = self._task, None
        await cancel_task(task)

    async def check(self) -> list[tuple[str, dict[str, Any]]]:
        """Read the metrics once, log a warning per crossed threshold, and return them."""
        result = self._get_metrics()
        metrics = await result if inspect.isawaitable(result) else result
        warnings = check_thresholds(self._windowed(metrics), self.config)
        logger = self._logger if self._logger is not None else get_logger()
        for event, fields in warnings:
            logger.warning(event, **fields)
        self.checks += 1
        self.last_warnings = warnings
        return warnings

    def _windowed(self, metrics: dict[str, Any]) -> dict[str, Any]:
        previous, self._previous = self._previous, metrics
        keys = ("requests", "errors", "total_latency_ms")
        if previous is None or not all(k in metrics and k in previous for k in keys):
            return metrics
        requests = metrics["requests"] - previous["requests"]
        view = dict(metrics)
        if requests > 0:
            view["avg_latency"] = (
                metrics["total_latency_ms"] - previous["total_latency_ms"]
            ) / requests
            view["error_rate"] = min(1.0, (metrics["errors"] - previous["errors"]) / requests)
        else:  # nothing happened since the last check: nothing to judge
            view["avg_latency"] = 0.0
            view["error_rate"] = 0.0
        return view

    async def _run(self) -> None:
        import asyncio

        while True:
            await asyncio.sleep(self.config.interval)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failing probe must not kill the monitor
                logger = self._logger if self._logger is not None else get_logger()
                logger.warning("monitoring_check_failed", error=f"{type(exc).__name__}: {exc}")
