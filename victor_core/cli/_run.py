"""``victor run GOAL``: one agent turn on a workspace, with live progress and a report."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from victor_core.cli._common import print_json, print_table, progress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the agent on a goal in a workspace (default: the current directory)",
        description=(
            "Plan the goal over the installed tools and skills, run the plan (independent "
            "steps in parallel), and print the steps and the report. Progress goes to "
            "stderr; with --json stdout carries only the JSON document. The exit code is 1 "
            "when a step failed (the other steps still run), 2 on an error."
        ),
    )
    parser.add_argument("goal", metavar="GOAL", help='what to do, e.g. "find TODO comments"')
    parser.add_argument(
        "--path", default=".", metavar="DIR", help="the workspace directory (default: .)"
    )
    parser.add_argument(
        "--persona",
        default=None,
        metavar="NAME",
        help="persona: changes preferred tools and report style (default: assistant)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    parser.add_argument(
        "--outputs", action="store_true", help="with --json, include every step's full output"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="do not answer from the response cache"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=(
            "profile the run with cProfile, every tool thread and worker process merged: "
            "top 20 functions by cumulative time on stderr, statistics to a file"
        ),
    )
    parser.add_argument(
        "--profile-output",
        default=None,
        metavar="FILE",
        help="where --profile writes its .pstats file (default: a temporary file)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib

    from victor_core.cli._common import make_orchestrator

    async def turn() -> Any:
        async with make_orchestrator(args) as orch:
            return await orch.run(
                args.goal,
                path=args.path,
                persona=args.persona,
                on_event=_Progress(),
                use_cache=not args.no_cache,
            )

    profiler: Any = contextlib.nullcontext()
    if args.profile:
        try:
            from victor_core.metrics._profiling import profile
        except ImportError:  # pragma: no cover - profiling ships with victor-core
            progress("victor: --profile needs victor_core.profiling; running without it")
        else:
            profiler = profile(args.profile_output)
    with profiler:
        result = asyncio.run(turn())
    if args.json:
        print_json(result.to_dict(outputs=args.outputs))
    else:
        _print(result)
    return 0 if result.ok else 1


class _Progress:
    """Shows the plan and each step as it starts and ends, on stderr."""

    def __call__(self, event: str, data: Mapping[str, Any]) -> None:
        if event == "plan":
            steps = data["steps"]
            if not steps:
                progress("plan: nothing to run (no tool or skill fits the goal)")
                return
            names = ", ".join(s["id"] for s in steps)
            progress(f"plan: {len(steps)} steps: {names}")
        elif event == "step_started":
            progress(f"  ... {data['id']} ({data['kind']})")
        elif event == "step_finished":
            line = f"  {data['status']:>7} {data['id']} in {data['ms']:.0f} ms"
            if data.get("error"):
                line += f": {_one_line(str(data['error']))}"
            progress(line)


def _print(result: Any) -> None:
    plan = result.plan
    meta = plan.get("metadata") or {}
    waves = plan.get("waves") or []
    print(
        f"{result.goal!r} in {result.path} - persona {result.persona}, "
        f"planner {meta.get('planner', '?')}, {len(result.steps)} steps in {len(waves)} waves"
    )
    print()
    if result.steps:
        rows = [
            (s.id, s.kind, s.status, f"{s.duration_ms:.1f}", _one_line(s.error or s.summary, 70))
            for s in result.steps
        ]
        print_table(rows, ("step", "kind", "status", "time (ms)", "summary"))
        print()
    title = "Answer" if result.response_source == "provider" else "Report"
    print(title)
    print("-" * len(title))
    print(result.report)
    print()
    if result.errors:
        print("Errors")
        print("------")
        for error in result.errors:
            print(f"- {_one_line(error, 160)}")
        print()
    cache = ", ".join(
        f"{name.replace('_', ' ')} {c['hits']} hits/{c['misses']} misses"
        for name, c in result.cache.items()
    )
    print(f"Cache: {cache or 'off'}")
    stages = ", ".join(f"{stage} {ms:.1f}" for stage, ms in result.timings_ms.items())
    print(f"Time: {result.total_ms:.1f} ms ({stages} ms)")


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
