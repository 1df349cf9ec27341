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
    scalars = [(k, v) for k, v in summary.items() if not isinstance(v, (dict, list))]
    print_table(scalars, ("metric", "value"))
    if summary.get("hooks"):
        print()
        rows = [
            (hook, f["calls"], f["errors"], f["avg_ms"], f["p95_ms"])
            for hook, f in sorted(summary["hooks"].items())
        ]
        print_table(rows, ("hook", "calls", "errors", "avg_ms", "p95_ms"))
    return 0
