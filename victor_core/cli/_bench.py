"""``victor bench``: run the benchmark groups, as a table or as JSON."""

from __future__ import annotations

import argparse
from typing import Any

from victor_core.cli._common import print_json, print_table, progress

#: The groups of :data:`victor_core.bench.GROUPS`, spelled out so that building
#: the parser does not import the benchmarks (a test keeps the two equal).
GROUP_NAMES = (
    "startup",
    "dispatch",
    "cache",
    "tool_selection",
    "parallel",
    "memory",
    "agent",
    "streaming",
    "agent_loop",
    "distributed",
    "analysis",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run benchmarks (start-up, dispatch, caches, parallel execution, memory)",
        description=(
            "Run benchmark groups and print their figures. Without GROUP, run them all. "
            "Progress goes to stderr; with --json stdout carries only the JSON document."
        ),
    )
    parser.add_argument(
        "groups",
        nargs="*",
        metavar="GROUP",
        help=f"groups to run: {', '.join(GROUP_NAMES)}, or all (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        metavar="N",
        help="work per group: rounds or operations (default: each group's own)",
    )
    parser.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from victor_core.bench import run_benchmarks

    groups = [g for g in args.groups if g != "all"] or None
    document = run_benchmarks(groups, args.iterations, progress=progress)
    if args.json:
        print_json(document)
    else:
        _print(document)
    return 1 if document["errors"] else 0


def _print(document: dict[str, Any]) -> None:
    rows: list[tuple[Any, ...]] = []
    for name, result in document["groups"].items():
        rows.append(
            (
                name,
                _fmt(result["latency_ms"], ".4g"),
                _fmt(result["throughput"], ",.1f"),
                _fmt(result["hit_rate"], ".1%"),
                f"{result['elapsed_s']:.1f} s",
                "ok",
            )
        )
    for name, note in document["skipped"].items():
        rows.append((name, None, None, None, None, f"skipped: {note}"))
    for name, message in document["errors"].items():
        rows.append((name, None, None, None, None, f"error: {message}"))
    print_table(rows, ("group", "latency_ms", "throughput/s", "hit_rate", "time", "status"))
    ratios = [
        (name, ratio, value)
        for name, result in document["groups"].items()
        for ratio, value in result["ratios"].items()
    ]
    if ratios:
        print()
        print_table(
            [(g, r, _fmt(v, ".3g")) for g, r, v in ratios], ("group", "ratio (same run)", "value")
        )
    machine = document["machine"]
    print()
    print(
        f"python {machine['python']} on {machine['platform']}, "
        f"{machine['cpu_usable']} usable CPUs; victor-core {machine['versions']['victor-core']}"
    )


def _fmt(value: float | None, spec: str) -> str | None:
    return None if value is None else format(value, spec)
