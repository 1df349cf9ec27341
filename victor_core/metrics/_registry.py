"""Metrics: counters, gauges, histograms and timers, exported as JSON or Prometheus text.

A :class:`MetricsRegistry` owns named metrics. ``create_*`` is get-or-create:
asking twice for the same name and kind returns the same object, so modules
can declare the metrics they use without coordinating::

    registry = MetricsRegistry()
    executions = registry.create_counter("tool_executions", "Number of tool executions")
    duration = registry.create_timer("execution_time", "Tool execution time")

    with duration.time():
        run_the_tool()
    executions.increment()

Names follow Prometheus (``[a-zA-Z_:][a-zA-Z0-9_:]*``) so that
:meth:`MetricsRegistry.to_prometheus` can export them unchanged. Metrics may
declare label names and are then used through ``metric.labels(name=value)``.

Every metric is safe to use from several threads. The hot paths are cheap: a
counter increment is one lock round trip, and a histogram observation is an
append to a pending queue that is folded into the buckets in batches (on read,
or every few hundred observations), so timing a call costs about as much as
reading the clock twice.

:func:`instrument` counts and times every hook call of a plugin manager, per
hook and per plugin implementation.
"""

from __future__ import annotations

import bisect
import collections
import functools
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from victor_core.exceptions import MetricsError

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_TIME_BUCKETS",
    "Counter",
    "Gauge",
    "Histogram",
    "MetricsError",
    "MetricsRegistry",
    "Timer",
    "instrument",
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


class Histogram(_Metric):
    """Observations counted into fixed buckets, with streaming percentiles.

    Count, sum, minimum, maximum and the bucket counts cover every
    observation. The percentiles (``p50``, ``p95``, ``p99``) are computed over a
    sliding window of the most recent ``window`` observations, so memory stays
    bounded and the figures follow the current behaviour.
    """

    kind = "histogram"
    _default_buckets = DEFAULT_BUCKETS

    def __init__(
        self,
        name: str,
        description: str = "",
        *,
        labelnames: Iterable[str] = (),
        buckets: Iterable[float] | None = None,
        window: int = 1024,
    ) -> None:
        super().__init__(name, description, labelnames=labelnames)
        bounds = tuple(float(b) for b in (self._default_buckets if buckets is None else buckets))
        if not bounds or list(bounds) != sorted(set(bounds)) or any(math.isnan(b) for b in bounds):
            raise MetricsError(
                f"buckets of histogram {name!r} must be a non-empty increasing sequence of "
                f"distinct numbers (got {bounds!r})",
                metric=name,
            )
        if math.isinf(bounds[-1]):
            bounds = bounds[:-1]
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise MetricsError(
                f"window of histogram {name!r} must be an int >= 1 (got {window!r})", metric=name
            )
        self.buckets = bounds
        self.window = window
        self._counts = [0] * (len(bounds) + 1)
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf
        self._recent: collections.deque[float] = collections.deque(maxlen=window)
        # Observations wait here until the next fold. list.append, slicing and
        # deleting a prefix are each atomic, and appends only touch the end, so
        # observe() needs no lock and the fold loses nothing.
        self._pending: list[float] = []
        # Histograms that also receive every folded batch, and the reverse
        # links, so that reading a fed histogram folds its sources first
        # (see instrument()).
        self._feeds: tuple[Histogram, ...] = ()
        self._sources: tuple[Histogram, ...] = ()
        if self.labelnames:
            self.observe = self._refuse  # type: ignore[method-assign]

    def _new_child(self) -> Histogram:
        return type(self)(self.name, self.description, buckets=self.buckets, window=self.window)

    def _refuse(self, value: float) -> None:
        self._unlabeled()

    def observe(self, value: float) -> None:
        """Record one observation (a number)."""
        pending = self._pending
        pending.append(value)
        if len(pending) >= _FOLD_EVERY:
            self._fold()

    def _feed(self, targets: tuple[Histogram, ...]) -> None:
        """Send every later observation to ``targets`` too (replacing earlier targets)."""
        self._fold()
        for old in self._feeds:
            old._sources = tuple(s for s in old._sources if s is not self)
        self._feeds = targets
        for target in targets:
            target._sources = (*target._sources, self)

    def _fold(self) -> None:
        for source in self._sources:
            source._fold()
        pending = self._pending
        if not pending:
            return
        with self._lock:
            size = len(pending)
            batch = pending[:size]
            del pending[:size]
            try:
                ordered = sorted(batch)
            except TypeError:  # a non-number was observed: drop it rather than break reads
                batch = [v for v in batch if isinstance(v, (int, float))]
                ordered = sorted(batch)
            if not batch:
                return
            # Bucket deltas are computed once and applied here and to the feeds.
            deltas = []
            previous = 0
            for bound in self.buckets:
                upto = bisect.bisect_right(ordered, bound)
                deltas.append(upto - previous)
                previous = upto
            deltas.append(len(ordered) - previous)
            total = sum(batch)
            self._absorb(batch, total, ordered[0], ordered[-1], deltas)
        for target in self._feeds:
            with target._lock:
                target._absorb(batch, total, ordered[0], ordered[-1], deltas)

    def _absorb(
        self, batch: list[float], total: float, low: float, high: float, deltas: list[int]
    ) -> None:
        # Called with self._lock held.
        self._recent.extend(batch)
        self._count += len(batch)
        self._sum += total
        self._min = min(self._min, low)
        self._max = max(self._max, high)
        counts = self._counts
        for i, delta in enumerate(deltas):
            counts[i] += delta

    @property
    def count(self) -> int:
        """Number of observations."""
        if self.labelnames:
            return sum(child.count for _, child in self.series())
        self._fold()
        return self._count

    @property
    def sum(self) -> float:
        """Sum of the observations."""
        if self.labelnames:
            return math.fsum(child.sum for _, child in self.series())
        self._fold()
        return self._sum

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) of the recent window, or None before any observation.

        Raises:
            MetricsError: ``q`` is outside 0..1.
        """
        if not 0.0 <= q <= 1.0:
            raise MetricsError(
                f"quantile of {self.name!r} must be between 0 and 1 (got {q!r})", metric=self.name
            )
        self._unlabeled()
        self._fold()
        with self._lock:
            data = sorted(self._recent)
        return quantile(data, q)

    def bucket_counts(self) -> list[tuple[float, int]]:
        """Cumulative ``(upper_bound, count)`` pairs, ending with ``(inf, count)``."""
        self._unlabeled()
        self._fold()
        with self._lock:
            counts = list(self._counts)
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def stats(self) -> dict[str, Any]:
        """``count``, ``sum``, ``mean``, ``min``, ``max``, ``p50``, ``p95``, ``p99``.

        Figures that need an observation are None before the first one.
        """
        self._unlabeled()
        self._fold()
        with self._lock:
            count, total = self._count, self._sum
            lo, hi = self._min, self._max
            data = sorted(self._recent)
        return {
            "count": count,
            "sum": total,
            "mean": total / count if count else None,
            "min": lo if count else None,
            "max": hi if count else None,
            **{_qname(q): quantile(data, q) for q in _QUANTILES},
        }

    def reset(self) -> None:
        """Forget every observation."""
        self._fold()
        with self._lock:
            self._counts = [0] * (len(self.buckets) + 1)
            self._count, self._sum = 0, 0.0
            self._min, self._max = math.inf, -math.inf
            self._recent.clear()
            for child in self._children.values():
                child.reset()

    def _sample(self) -> dict[str, Any]:
        doc = self.stats()
        doc["buckets"] = {_fmt_bound(b): n for b, n in self.bucket_counts()}
        return doc


class _Timing:
    """One timed region: a context manager, and a decorator timing every call."""

    __slots__ = ("_timer", "elapsed", "start")

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        self.start = 0.0
        self.elapsed: float | None = None

    def __enter__(self) -> _Timing:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.elapsed = elapsed = time.perf_counter() - self.start
        # Histogram.observe() inlined: timing a block should cost little more
        # than reading the clock twice.
        timer = self._timer
        pending = timer._pending
        pending.append(elapsed)
        if len(pending) >= _FOLD_EVERY:
            timer._fold()

    async def __aenter__(self) -> _Timing:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)

    def __call__(self, func: F) -> F:
        return self._timer(func)


class Timer(Histogram):
    """A histogram of durations in seconds, fed by ``with timer.time():`` or as a decorator.

    ``@timer`` (or ``@timer.time()``) on a function times every call; on an
    ``async def`` function it times until the coroutine finishes, not just
    until it is created.
    """

    kind = "timer"
    _default_buckets = DEFAULT_TIME_BUCKETS

    def time(self) -> _Timing:
        """A context manager that observes the seconds spent inside it (also a decorator)."""
        if self.labelnames:
            self._unlabeled()
        return _Timing(self)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (sync or async) so that every call is timed."""
        self._unlabeled()
        import inspect

        observe = self.observe
        clock = time.perf_counter
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = clock()
                try:
                    return await func(*args, **kwargs)
                finally:
                    observe(clock() - start)

            return timed_async  # type: ignore[return-value]

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return func(*args, **kwargs)
            finally:
                observe(clock() - start)

        return timed  # type: ignore[return-value]

    @property
    def total(self) -> float:
        """Seconds spent in total."""
        return self.sum

    @property
    def mean(self) -> float | None:
        """Mean duration in seconds (None before the first observation)."""
        count = self.count
        return self.sum / count if count else None

    def stats(self) -> dict[str, Any]:
        """The histogram figures in seconds, plus the same in milliseconds (``p95_ms``...)."""
        doc = super().stats()
        for key in ("mean", "min", "max", "p50", "p95", "p99"):
            value = doc[key]
            doc[f"{key}_ms"] = None if value is None else value * 1000.0
        return doc


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


def to_prometheus(metrics: Iterable[Any], *, openmetrics: bool = False) -> str:
    """Render metrics (a registry or any iterable of metrics) as Prometheus text.

    Counters are exposed as ``<name>_total``; timers and histograms as
    histograms (``_bucket``, ``_sum``, ``_count``), timers in seconds.
    """
    lines: list[str] = []
    for metric in metrics:
        kind = "histogram" if metric.kind == "timer" else metric.kind
        family = metric.name
        if kind == "counter":
            base = family[: -len("_total")] if family.endswith("_total") else family
            family = base if openmetrics else f"{base}_total"
            sample_name = f"{base}_total"
        help_text = metric.description.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {family} {help_text}")
        lines.append(f"# TYPE {family} {kind}")
        for labels, series in metric.series():
            if kind == "counter":
                lines.append(f"{sample_name}{_labels(labels)} {_num(series.value)}")
            elif kind == "gauge":
                lines.append(f"{family}{_labels(labels)} {_num(series.value)}")
            else:
                for bound, count in series.bucket_counts():
                    le = {**labels, "le": _fmt_bound(bound)}
                    lines.append(f"{family}_bucket{_labels(le)} {count}")
                lines.append(f"{family}_sum{_labels(labels)} {_num(series.sum)}")
                lines.append(f"{family}_count{_labels(labels)} {series.count}")
    if openmetrics:
        lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    parts = []
    for key, value in labels.items():
        escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        parts.append(f'{key}="{escaped}"')
    return "{" + ",".join(parts) + "}"


def _num(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


# --- hook instrumentation ------------------------------------------------------------


def instrument(
    plugin_manager: pluggy.PluginManager,
    registry: MetricsRegistry,
    *,
    per_plugin: bool = True,
) -> Callable[[], None]:
    """Count and time every hook call of ``plugin_manager`` into ``registry``.

    Feeds these metrics:

    - ``victor_hook_duration_seconds{hook}``: a timer; its count is the number of calls,
    - ``victor_hook_errors_total{hook}``: calls that raised,
    - with ``per_plugin``: ``victor_hookimpl_duration_seconds{hook,plugin}``, each
      implementation on its own (an ``async def`` one until its coroutine finishes).

    The monitor sits where pluggy's own hook-call monitoring
    (:meth:`pluggy.PluginManager.add_hookcall_monitoring`) does, around the
    call of the implementations, but without its per-call closure and result
    object, which would double the cost of a one-implementation call. A
    one-implementation hook is timed once and credited to both series. Nothing
    is installed when ``registry.enabled`` is False.

    Args:
        plugin_manager: a pluggy plugin manager (victor-core's or a plain one).
        registry: where the figures go.
        per_plugin: also time each hook implementation.

    Returns:
        A callable that removes the monitoring and restores the implementations.
    """
    if not registry.enabled:
        return _noop
    hook_timer = registry.create_timer(
        "victor_hook_duration_seconds", "Time spent in hook calls", labels=("hook",)
    )
    hook_errors = registry.create_counter(
        "victor_hook_errors", "Hook calls that raised", labels=("hook",)
    )
    impl_timer = registry.create_timer(
        "victor_hookimpl_duration_seconds",
        "Time spent in each hook implementation",
        labels=("hook", "plugin"),
    )
    states: dict[str, _HookState] = {}
    wrapped: dict[int, tuple[Any, Callable[..., Any]]] = {}
    clock = time.perf_counter

    def prepare(hook_name: str, hook_impls: Any) -> _HookState:
        timer = hook_timer.labels(hook_name)
        state = _HookState(timer, hook_errors.labels(hook_name), hook_impls)
        lone = _wrap_impls(hook_name, hook_impls, impl_timer, wrapped) if per_plugin else None
        # What was observed so far is credited to the implementations it was for.
        timer._feed((lone,) if lone is not None else ())
        states[hook_name] = state
        return state

    if not hasattr(plugin_manager, "_inner_hookexec"):  # pragma: no cover - other pluggy
        return _instrument_public(plugin_manager, prepare, states, wrapped)
    inner = plugin_manager._inner_hookexec

    def monitored(hook_name: str, hook_impls: Any, caller_kwargs: Any, firstresult: bool) -> Any:
        state = states.get(hook_name)
        # pluggy passes a fresh copy of the implementation list; comparing it
        # with the one the state was prepared for is one C-level identity scan.
        if state is None or state.impls != hook_impls:
            state = prepare(hook_name, hook_impls)
        start = clock()
        try:
            return inner(hook_name, hook_impls, caller_kwargs, firstresult)
        except BaseException:
            state.errors.increment()
            raise
        finally:
            # Histogram.observe() inlined: this runs on every hook call.
            pending = state.pending
            pending.append(clock() - start)
            if len(pending) >= _FOLD_EVERY:
                state.timer._fold()

    plugin_manager._inner_hookexec = monitored

    def undo() -> None:
        if plugin_manager._inner_hookexec is monitored:
            plugin_manager._inner_hookexec = inner
        for state in states.values():
            state.timer._feed(())
        _unwrap(wrapped)

    return undo


class _HookState:
    """The series one hook feeds, and the implementations they were prepared for."""

    __slots__ = ("errors", "impls", "pending", "timer")

    def __init__(self, timer: Timer, errors: Counter, hook_impls: Any) -> None:
        self.timer = timer
        self.pending = timer._pending
        self.errors = errors
        self.impls = list(hook_impls)


def _instrument_public(
    plugin_manager: Any,
    prepare: Callable[[str, Any], _HookState],
    states: dict[str, _HookState],
    wrapped: dict[int, tuple[Any, Callable[..., Any]]],
) -> Callable[[], None]:  # pragma: no cover - used only if pluggy changes its internals
    local = threading.local()

    def before(hook_name: str, hook_impls: Any, kwargs: Any) -> None:
        state = states.get(hook_name)
        if state is None or state.impls != hook_impls:
            prepare(hook_name, hook_impls)
        local.__dict__.setdefault("stack", []).append(time.perf_counter())

    def after(outcome: Any, hook_name: str, hook_impls: Any, kwargs: Any) -> None:
        elapsed = time.perf_counter() - local.stack.pop()
        state = states[hook_name]
        state.timer.observe(elapsed)
        if outcome.exception is not None:
            state.errors.increment()

    undo_monitoring = plugin_manager.add_hookcall_monitoring(before, after)

    def undo() -> None:
        undo_monitoring()
        _unwrap(wrapped)

    return undo


def _noop() -> None:
    return None


def _unwrap(wrapped: dict[int, tuple[Any, Callable[..., Any]]]) -> None:
    for impl, original in list(wrapped.values()):
        impl.function = original
    wrapped.clear()


def _wrap_impls(
    hook_name: str,
    hook_impls: Any,
    impl_timer: Timer,
    wrapped: dict[int, tuple[Any, Callable[..., Any]]],
) -> Timer | None:
    """Time each implementation; return the series of a lone sync one instead.

    A lone synchronous implementation needs no wrapper: the hook's own time is
    its time, so the hook's series feeds the implementation's and the call
    stays cheap. Wrappers (old and new style) surround the others and are not
    timed alone.
    """
    import inspect

    plain = [i for i in hook_impls if not (i.hookwrapper or i.wrapper)]
    if (
        len(hook_impls) == 1
        and len(plain) == 1
        and id(plain[0]) not in wrapped
        and not inspect.iscoroutinefunction(plain[0].function)
    ):
        lone: Timer = impl_timer.labels(hook_name, plain[0].plugin_name or "?")
        return lone
    for impl in plain:
        if id(impl) in wrapped:
            continue
        original = impl.function
        wrapped[id(impl)] = (impl, original)
        impl.function = _timed_function(
            original, impl_timer.labels(hook_name, impl.plugin_name or "?").observe
        )
    return None


def _timed_function(
    original: Callable[..., Any], observe: Callable[[float], None]
) -> Callable[..., Any]:
    import inspect

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
