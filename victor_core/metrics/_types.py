"""Metric types: counters, gauges, and what every metric shares (names, labels, series).

Names follow Prometheus (``[a-zA-Z_:][a-zA-Z0-9_:]*``) so that the
exposition (:mod:`victor_core.metrics._exposition`) can export them
unchanged; by its conventions a counter's name ends in ``_total`` and a
unit is spelled out at the end (``_seconds``, ``_bytes``). Metrics may
declare label names and are then used through ``metric.labels(name=value)``.
Histograms and timers are in :mod:`victor_core.metrics._histogram`.

Every metric is safe to use from several threads; a counter increment is one
lock round trip.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from victor_core.exceptions import MetricsError

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_TIME_BUCKETS",
    "Counter",
    "Gauge",
    "MetricsError",
    "quantile",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Upper bounds of the default histogram buckets (a ``+Inf`` bucket is always added).
DEFAULT_BUCKETS: tuple[float, ...] = (
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
)  # fmt: skip
#: Upper bounds (seconds) of the default timer buckets: 10 us to 60 s.
DEFAULT_TIME_BUCKETS: tuple[float, ...] = (
    0.00001, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
# Observations wait in a lock-free queue and are folded into the buckets in
# batches of this size; it bounds the memory of a histogram nobody reads.
_FOLD_EVERY = 256
_QUANTILES = (0.5, 0.95, 0.99)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise MetricsError(
            f"metric name must match [a-zA-Z_:][a-zA-Z0-9_:]* (Prometheus names), got {name!r}",
            metric=name if isinstance(name, str) else None,
        )
    return name


def _check_labelnames(metric: str, labelnames: Iterable[str]) -> tuple[str, ...]:
    names = tuple(labelnames)
    for label in names:
        if not isinstance(label, str) or not _LABEL_RE.match(label) or label.startswith("__"):
            raise MetricsError(
                f"label name of metric {metric!r} must match [a-zA-Z_][a-zA-Z0-9_]* and not "
                f"start with '__', got {label!r}",
                metric=metric,
            )
        if label in {"le", "quantile"}:
            raise MetricsError(
                f"label name {label!r} of metric {metric!r} is reserved by Prometheus",
                metric=metric,
            )
    if len(set(names)) != len(names):
        raise MetricsError(f"metric {metric!r} repeats a label name: {names!r}", metric=metric)
    return names


class _Metric:
    """What every metric kind shares: name, description, labels and children."""

    kind = "untyped"

    def __init__(self, name: str, description: str = "", *, labelnames: Iterable[str] = ()) -> None:
        self.name = _check_name(name)
        self.description = str(description)
        self.labelnames = _check_labelnames(name, labelnames)
        self.labelvalues: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._children: dict[tuple[str, ...], Any] = {}

    def labels(self, *values: Any, **kwvalues: Any) -> Any:
        """The child metric for these label values (created on first use).

        Args:
            values: label values in the order of ``labelnames``.
            kwvalues: label values by name (instead of ``values``).

        Returns:
            A metric of the same kind, without labels of its own.

        Raises:
            MetricsError: the metric has no labels, or the values do not match its label names.
        """
        if values and not kwvalues:
            # Fast path: label values given as strings, by position, seen before.
            child = self._children.get(values)
            if child is not None:
                return child
        if not self.labelnames:
            raise MetricsError(f"metric {self.name!r} has no labels", metric=self.name)
        if values and kwvalues:
            raise MetricsError(
                f"give the labels of {self.name!r} by position or by name, not both",
                metric=self.name,
            )
        if kwvalues:
            if set(kwvalues) != set(self.labelnames):
                raise MetricsError(
                    f"metric {self.name!r} takes the labels {list(self.labelnames)} "
                    f"(got {sorted(kwvalues)})",
                    metric=self.name,
                )
            values = tuple(kwvalues[label] for label in self.labelnames)
        if len(values) != len(self.labelnames):
            raise MetricsError(
                f"metric {self.name!r} takes {len(self.labelnames)} label values "
                f"{list(self.labelnames)} (got {len(values)})",
                metric=self.name,
            )
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = self._children.get(key)
                if child is None:
                    child = self._new_child()
                    child.labelvalues = key
                    self._children[key] = child
        return child

    def _new_child(self) -> Any:
        raise NotImplementedError

    def _unlabeled(self) -> None:
        if self.labelnames:
            raise MetricsError(
                f"metric {self.name!r} has labels {list(self.labelnames)}; "
                f"use .labels({', '.join(f'{n}=...' for n in self.labelnames)}) first",
                metric=self.name,
            )

    def series(self) -> list[tuple[dict[str, str], Any]]:
        """``(labels, metric)`` pairs of every series: the children, or the metric itself."""
        if not self.labelnames:
            return [({}, self)]
        with self._lock:
            children = list(self._children.items())
        return [(dict(zip(self.labelnames, key, strict=True)), child) for key, child in children]

    def _sample(self) -> dict[str, Any]:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready description of the metric and its current values."""
        doc: dict[str, Any] = {"kind": self.kind, "description": self.description}
        if self.labelnames:
            doc["labels"] = list(self.labelnames)
            doc["series"] = [{"labels": lab, **m._sample()} for lab, m in self.series()]
        else:
            doc.update(self._sample())
        return doc

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Counter(_Metric):
    """A value that only goes up (events, calls, errors)."""

    kind = "counter"

    def __init__(self, name: str, description: str = "", *, labelnames: Iterable[str] = ()) -> None:
        super().__init__(name, description, labelnames=labelnames)
        self._value: float = 0
        self._function: Callable[[], float] | None = None
        if self.labelnames:
            self.increment = self._refuse  # type: ignore[method-assign]

    def set_function(self, function: Callable[[], float] | None) -> None:
        """Read the value from ``function()``, which only goes up, whenever it is read.

        For totals kept elsewhere, such as the CPU seconds of the process
        (None: count increments again).
        """
        self._unlabeled()
        self._function = function

    def _refuse(self, n: float = 1) -> None:
        self._unlabeled()

    def _new_child(self) -> Counter:
        return Counter(self.name, self.description)

    def increment(self, n: float = 1) -> None:
        """Add ``n`` (default 1).

        Raises:
            MetricsError: ``n`` is negative, or the counter has labels (use ``labels()``).
        """
        if n < 0:
            raise MetricsError(
                f"counter {self.name!r} can only go up; increment must be >= 0 (got {n!r})",
                metric=self.name,
            )
        with self._lock:
            self._value += n

    def inc(self, n: float = 1) -> None:
        """Same as :meth:`increment`."""
        self.increment(n)

    @property
    def value(self) -> float:
        """The current value (for a labelled counter: the sum over its series)."""
        if self.labelnames:
            total: float = sum(child.value for _, child in self.series())
            return total
        if self._function is not None:
            try:
                return float(self._function())
            except Exception:  # a broken probe must not break an export
                return math.nan
        return self._value

    def reset(self) -> None:
        """Set the counter back to zero (tests and ``victor metrics`` resets only)."""
        with self._lock:
            self._value = 0
            for child in self._children.values():
                child.reset()

    def _sample(self) -> dict[str, Any]:
        return {"value": self.value}


class Gauge(_Metric):
    """A value that goes up and down, set directly or read from a function."""

    kind = "gauge"

    def __init__(self, name: str, description: str = "", *, labelnames: Iterable[str] = ()) -> None:
        super().__init__(name, description, labelnames=labelnames)
        self._value: float = 0.0
        self._function: Callable[[], float] | None = None

    def _new_child(self) -> Gauge:
        return Gauge(self.name, self.description)

    def set(self, value: float) -> None:
        """Set the gauge to ``value``."""
        self._unlabeled()
        self._value = float(value)

    def increment(self, n: float = 1) -> None:
        """Add ``n`` (may be negative)."""
        self._unlabeled()
        with self._lock:
            self._value += n

    def decrement(self, n: float = 1) -> None:
        """Subtract ``n``."""
        self.increment(-n)

    inc = increment
    dec = decrement

    def set_function(self, function: Callable[[], float] | None) -> None:
        """Read the value from ``function()`` whenever the gauge is read (None: stop)."""
        self._unlabeled()
        self._function = function

    @property
    def value(self) -> float:
        """The current value (a failing value function reads as NaN)."""
        if self._function is not None:
            try:
                return float(self._function())
            except Exception:  # a broken probe must not break an export
                return math.nan
        return self._value

    def _sample(self) -> dict[str, Any]:
        return {"value": self.value}


def quantile(data: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted ``data`` (None if empty), interpolating as numpy does."""
    if not data:
        return None
    pos = (len(data) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def _qname(q: float) -> str:
    return f"p{round(q * 100):d}"


def _fmt_bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)
