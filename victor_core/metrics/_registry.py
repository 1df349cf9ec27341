"""The registry: named metrics of one process or one orchestrator.

``create_*`` is get-or-create: asking twice for the same name and kind
returns the same object, so modules can declare the metrics they use without
coordinating::

    registry = MetricsRegistry()
    executions = registry.create_counter("tool_executions_total", "Tool executions")
    duration = registry.create_timer("tool_execution_seconds", "Tool execution time")

    with duration.time():
        run_the_tool()
    executions.increment()
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from victor_core.exceptions import MetricsError
from victor_core.metrics._exposition import to_prometheus
from victor_core.metrics._histogram import Histogram, Timer
from victor_core.metrics._types import Counter, Gauge, _Metric

__all__ = ["MetricsRegistry"]

_KINDS: dict[str, type[_Metric]] = {
    "counter": Counter,
    "gauge": Gauge,
    "histogram": Histogram,
    "timer": Timer,
}


class MetricsRegistry:
    """Named metrics of one process or one orchestrator.

    Args:
        enabled: when False, :func:`instrument` installs nothing; metrics created
            directly still work (they are cheap), so code need not check.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def _get_or_create(
        self, kind: str, name: str, description: str, labelnames: Iterable[str], **options: Any
    ) -> Any:
        existing = self._metrics.get(name)
        if existing is None:
            metric = _KINDS[kind](name, description, labelnames=labelnames, **options)
            with self._lock:
                existing = self._metrics.setdefault(name, metric)
        if existing.kind != kind:
            raise MetricsError(
                f"metric {name!r} is already registered as a {existing.kind}, "
                f"not a {kind}; choose another name",
                metric=name,
            )
        wanted = tuple(labelnames)
        if existing.labelnames != wanted:
            raise MetricsError(
                f"metric {name!r} is already registered with labels "
                f"{list(existing.labelnames)}, not {list(wanted)}",
                metric=name,
            )
        return existing

    def create_counter(
        self, name: str, description: str = "", *, labels: Iterable[str] = ()
    ) -> Counter:
        """The counter ``name``, created on first request.

        Args:
            name: a Prometheus metric name (``[a-zA-Z_:][a-zA-Z0-9_:]*``).
            description: one line of help text.
            labels: label names; the counter is then used through ``labels(...)``.

        Raises:
            MetricsError: the name is invalid or already used by another kind or other labels.
        """
        result: Counter = self._get_or_create("counter", name, description, labels)
        return result

    def create_gauge(
        self, name: str, description: str = "", *, labels: Iterable[str] = ()
    ) -> Gauge:
        """The gauge ``name``, created on first request (see :meth:`create_counter`)."""
        result: Gauge = self._get_or_create("gauge", name, description, labels)
        return result

    def create_histogram(
        self,
        name: str,
        description: str = "",
        *,
        labels: Iterable[str] = (),
        buckets: Iterable[float] | None = None,
        window: int = 1024,
    ) -> Histogram:
        """The histogram ``name``, created on first request.

        Args:
            name: a Prometheus metric name.
            description: one line of help text.
            labels: label names.
            buckets: increasing upper bounds (default :data:`DEFAULT_BUCKETS`); ignored
                when the histogram exists already.
            window: how many recent observations the percentiles cover.

        Raises:
            MetricsError: invalid name, buckets or window, or the name is taken.
        """
        result: Histogram = self._get_or_create(
            "histogram", name, description, labels, buckets=buckets, window=window
        )
        return result

    def create_timer(
        self,
        name: str,
        description: str = "",
        *,
        labels: Iterable[str] = (),
        buckets: Iterable[float] | None = None,
        window: int = 1024,
    ) -> Timer:
        """The timer ``name`` (durations in seconds), created on first request.

        Raises:
            MetricsError: invalid name, buckets or window, or the name is taken.
        """
        result: Timer = self._get_or_create(
            "timer", name, description, labels, buckets=buckets, window=window
        )
        return result

    def get(self, name: str) -> Any:
        """The metric called ``name``, or None."""
        return self._metrics.get(name)

    def unregister(self, name: str) -> None:
        """Forget the metric ``name`` (no error if absent)."""
        with self._lock:
            self._metrics.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            metrics = sorted(self._metrics.items())
        return iter([m for _, m in metrics])

    def __len__(self) -> int:
        return len(self._metrics)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every metric as JSON-ready data: ``{name: {"kind", "description", ...values}}``."""
        return {m.name: m.snapshot() for m in self}

    def to_prometheus(self, *, openmetrics: bool = False) -> str:
        """Every metric in the Prometheus text exposition format (version 0.0.4).

        Args:
            openmetrics: write OpenMetrics 1.0 text instead (``# EOF`` terminated).
        """
        return to_prometheus(self, openmetrics=openmetrics)
