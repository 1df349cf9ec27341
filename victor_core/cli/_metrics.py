"""``victor metrics``: this process's metrics, as a table, JSON or Prometheus text."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from victor_core.cli._common import make_orchestrator, print_json, print_table

_FORMATS = ("table", "json", "prometheus", "openmetrics")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="show metrics (process memory and CPU, plugins, hooks)",
        description=(
            "Print the metrics of a fresh orchestrator: process gauges (memory, CPU time), "
            "plugins discovered and loaded, and the summary get_metrics() returns."
        ),
    )
    parser.add_argument(
        "--format",
        choices=_FORMATS,
        default="table",
        help="output format (default: table)",
    )
    parser.add_argument("--json", action="store_true", help="same as --format json")
    parser.set_defaults(func=_metrics)


def _metrics(args: argparse.Namespace) -> int:
    import asyncio

    from victor_core.health._monitor import process_gauges

    fmt = "json" if args.json else args.format

    async def collect() -> tuple[dict[str, Any], Any]:
        orchestrator = make_orchestrator(args)
        try:
            registry = process_gauges(
                orchestrator.metrics, plugin_manager=orchestrator.plugin_manager
            )
            return await orchestrator.get_metrics(), registry
        finally:
            await orchestrator.aclose()

    summary, registry = asyncio.run(collect())
    if fmt in ("prometheus", "openmetrics"):
        sys.stdout.write(registry.to_prometheus(openmetrics=fmt == "openmetrics"))
        return 0
    if fmt == "json":
        print_json({**summary, "metrics": registry.snapshot()})
        return 0
    scalars = [
        (key, *with_unit(key, value))
        for key, value in summary.items()
        if not isinstance(value, (dict, list))
    ]
    print_table(scalars, ("metric", "value", "unit"))
    if summary.get("hooks"):
        print()
        rows = [
            (hook, f["calls"], f["errors"], f["avg_ms"], f["p95_ms"])
            for hook, f in sorted(summary["hooks"].items())
        ]
        print_table(rows, ("hook", "calls", "errors", "avg (ms)", "p95 (ms)"))
    return 0


#: The unit of each figure of the summary (figures not named here are counts).
_UNITS = {
    "avg_latency": "ms",
    "p50_latency": "ms",
    "p95_latency": "ms",
    "p99_latency": "ms",
    "total_latency_ms": "ms",
    "memory_usage": "MB",
    "cpu_time": "s",
    "uptime": "s",
}
_RATIOS = {"error_rate", "cache_hit_rate"}


def with_unit(key: str, value: Any) -> tuple[Any, str]:
    """``(value, unit)`` for one summary figure; ratios are shown as percentages."""
    if key in _RATIOS and isinstance(value, (int, float)):
        return round(value * 100.0, 2), "%"
    if key in _UNITS:
        return value, _UNITS[key]
    if key.endswith("_s"):
        return value, "s"
    if key.endswith("_ms"):
        return value, "ms"
    return value, ""
