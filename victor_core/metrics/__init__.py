"""Metrics: counters, gauges, timers, histograms, exposition and hook timing."""

from __future__ import annotations

from victor_core.metrics._exposition import to_prometheus as to_prometheus
from victor_core.metrics._histogram import Histogram as Histogram
from victor_core.metrics._histogram import Timer as Timer
from victor_core.metrics._hooks import instrument as instrument
from victor_core.metrics._profiling import ProfileResult as ProfileResult
from victor_core.metrics._profiling import add_worker_stats as add_worker_stats
from victor_core.metrics._profiling import profile as profile
from victor_core.metrics._profiling import worker_profiling_enabled as worker_profiling_enabled
from victor_core.metrics._registry import MetricsRegistry as MetricsRegistry
from victor_core.metrics._types import DEFAULT_BUCKETS as DEFAULT_BUCKETS
from victor_core.metrics._types import DEFAULT_TIME_BUCKETS as DEFAULT_TIME_BUCKETS
from victor_core.metrics._types import Counter as Counter
from victor_core.metrics._types import Gauge as Gauge
from victor_core.metrics._types import MetricsError as MetricsError
from victor_core.metrics._types import quantile as quantile

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_TIME_BUCKETS",
    "Counter",
    "Gauge",
    "Histogram",
    "MetricsError",
    "MetricsRegistry",
    "ProfileResult",
    "Timer",
    "add_worker_stats",
    "instrument",
    "profile",
    "quantile",
    "to_prometheus",
    "worker_profiling_enabled",
]
