"""Exposition: metrics as Prometheus (0.0.4) or OpenMetrics (1.0) text."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from victor_core.metrics._types import _fmt_bound

__all__ = ["to_prometheus"]


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
