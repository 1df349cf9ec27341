"""Histograms and timers: observations counted into buckets, with streaming percentiles.

A histogram observation is an append to a pending queue that is folded into
the buckets in batches (on read, or every few hundred observations), so
timing a call costs about as much as reading the clock twice.
"""

from __future__ import annotations

import bisect
import collections
import functools
import math
import time
from collections.abc import Iterable
from typing import Any

from victor_core.exceptions import MetricsError
from victor_core.metrics._types import (
    _FOLD_EVERY,
    _QUANTILES,
    DEFAULT_BUCKETS,
    DEFAULT_TIME_BUCKETS,
    F,
    _fmt_bound,
    _Metric,
    _qname,
    quantile,
)

__all__ = ["Histogram", "Timer"]


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
