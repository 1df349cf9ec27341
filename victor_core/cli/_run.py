"""``victor run GOAL``: one agent turn on a workspace, with live progress and a report."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from victor_core.cli._common import plural, print_json, print_table, progress
from victor_core.exceptions import ChainError, VictorError

if TYPE_CHECKING:
    from victor_core.agent._events import AgentEvent


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the agent on a goal in a workspace (default: the current directory)",
        description=(
            "With a provider configured, the model calls the installed tools (each turn's "
            "calls in parallel) until it answers; its text is printed as it arrives. "
            "Without one, plan the goal over the tools and skills, run the plan and print "
            "the report. Progress goes to stderr; with --json stdout carries only the JSON "
            "document. The exit code is 1 when the run did not succeed (a failed step, a "
            "budget reached, a provider failure), 2 on an error."
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
        "--stream-json",
        action="store_true",
        help="print every event of the run as a JSON line (the last carries the result)",
    )
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="approve every tool call that agent_approval holds back (no questions)",
    )
    parser.add_argument(
        "--no-stream", action="store_true", help="ask the model for whole replies, not streams"
    )
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
    # Providers and tools may log through structlog directly: configure it
    # before they load, or its default would print their logs on stdout.
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        return _run_checked(args)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130)
    except (VictorError, OSError) as exc:
        return _fail(args, str(exc), 2, **_error_fields(exc))
    except Exception as exc:
        return _fail(args, f"{type(exc).__name__}: {exc}", 1)


_CLOSEST = re.compile(r"closest tools: ([^()]*?)(?: \(left out:|$)")


def _error_fields(exc: BaseException) -> dict[str, Any]:
    """What the JSON document adds to the message: the kind of error, the closest tools."""
    fields: dict[str, Any] = {"error_type": type(exc).__name__}
    message = str(exc)
    if isinstance(exc, ChainError) and message.startswith("no tool fits"):
        # The planner names the nearest tools in its message; --json lists them.
        closest = list(exc.steps)
        if not closest:
            found = _CLOSEST.search(message)
            closest = [n.strip() for n in found.group(1).split(",") if n.strip()] if found else []
        fields.update(status="no_tool_fits", closest_tools=closest)
    return fields


def _fail(args: argparse.Namespace, message: str, code: int, **fields: Any) -> int:
    if args.json or args.stream_json:
        doc = {"ok": False, "status": "error", "error": message, "goal": args.goal, **fields}
        if args.stream_json:
            doc = {"event": "error", **doc}
        print_json(doc) if args.json else _json_line(doc)
    print(f"victor: error: {_one_line(message, 400)}", file=sys.stderr)
    return code


def _run_checked(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib

    from victor_core.cli._common import make_orchestrator

    shown = _Progress(args)

    async def turn() -> Any:
        async with make_orchestrator(args) as orch:
            return await orch.run(
                args.goal,
                path=args.path,
                persona=args.persona,
                on_event=shown,
                use_cache=not args.no_cache,
                approve=_approver(args),
                stream=not args.no_stream,
            )

    profiler: Any = contextlib.nullcontext()
    if args.profile:
        from victor_core.metrics._profiling import profile

        profiler = profile(args.profile_output)
    with profiler:
        result = asyncio.run(turn())
    if args.json:
        print_json(result.to_dict(outputs=args.outputs))
    elif not args.stream_json:
        _print(result, streamed=shown.streamed)
    return 0 if result.ok else 1


def _approver(args: argparse.Namespace) -> Any:
    """Approves with --yes; asks on the terminal; refuses without one."""
    if args.yes:
        return lambda request: True
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None  # no one to ask: the call is denied and the model told so

    async def ask(request: Any) -> bool:
        import asyncio

        arguments = _one_line(json.dumps(request.arguments, default=str), 200)
        question = (
            f"victor: allow {request.name} ({', '.join(request.effects)}) with {arguments}? [y/N] "
        )

        def prompt() -> str:
            print(question, end="", file=sys.stderr, flush=True)
            return sys.stdin.readline()

        answer = await asyncio.to_thread(prompt)
        return answer.strip().lower() in ("y", "yes")

    return ask


def _json_line(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, default=str) + "\n")
    sys.stdout.flush()


class _Progress:
    """Shows the run as it goes: the model's text, tool calls, plan steps.

    Text goes to stdout (stderr with --json); everything else to stderr. With
    --stream-json every event is a JSON line on stdout.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.json_lines = bool(args.stream_json)
        self.text_out = sys.stderr if args.json else sys.stdout
        self.streamed = False
        self._midline = False

    def _line(self, message: str) -> None:
        if self._midline:
            print(file=self.text_out, flush=True)
            self._midline = False
        progress(message)

    def __call__(self, event: AgentEvent) -> None:
        # Imported here: every other command parses with this module loaded.
        from victor_core.agent._events import (
            PlanReady,
            RunFinished,
            StepFinished,
            StepStarted,
            TextDelta,
            ToolCallFinished,
            ToolCallStarted,
        )

        if self.json_lines:
            _json_line(event.to_dict())
            return
        if isinstance(event, TextDelta):
            self.streamed = True
            self._midline = not event.text.endswith("\n")
            print(event.text, end="", file=self.text_out, flush=True)
        elif isinstance(event, ToolCallStarted):
            args = _one_line(json.dumps(event.arguments, default=str), 100)
            self._line(f"  ... {event.name}({args}) [turn {event.turn}]")
        elif isinstance(event, ToolCallFinished):
            status = "ok" if event.ok else "failed"
            line = f"  {status:>7} {event.name} in {event.duration_s * 1000.0:.0f} ms"
            if event.error:
                line += f": {_one_line(event.error)}"
            self._line(line)
        elif isinstance(event, RunFinished):
            if self._midline:
                print(file=self.text_out, flush=True)
                self._midline = False
        elif isinstance(event, PlanReady):
            if not event.steps:
                self._line("plan: nothing to run (no tool or skill fits the goal)")
                return
            names = ", ".join(s["id"] for s in event.steps)
            self._line(f"plan: {plural(len(event.steps), 'step')}: {names}")
        elif isinstance(event, StepStarted):
            self._line(f"  ... {event.id} ({event.step_kind})")
        elif isinstance(event, StepFinished):
            line = f"  {event.status:>7} {event.id} in {event.ms:.0f} ms"
            if event.error:
                line += f": {_one_line(str(event.error))}"
            self._line(line)


def _print(result: Any, *, streamed: bool = False) -> None:
    if result.mode == "model":
        _print_model(result, streamed=streamed)
        return
    plan = result.plan
    meta = plan.get("metadata") or {}
    waves = plan.get("waves") or []
    print(
        f"{result.goal!r} in {result.path} - persona {result.persona}, "
        f"planner {meta.get('planner', '?')}, "
        f"{plural(len(result.steps), 'step')} in {plural(len(waves), 'wave')}"
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
        f"{name.replace('_', ' ')} {plural(c['hits'], 'hit')}/"
        f"{plural(c['misses'], 'miss', 'misses')}"
        for name, c in result.cache.items()
    )
    print(f"Cache: {cache or 'off'}")
    stages = ", ".join(f"{stage} {ms:.1f}" for stage, ms in result.timings_ms.items())
    print(f"Time: {result.total_ms:.1f} ms ({stages} ms)")


def _print_model(result: Any, *, streamed: bool) -> None:
    if not streamed:
        print(result.answer)
    print()
    if result.tool_calls:
        rows = [
            (
                c.turn,
                c.name,
                "ok" if c.ok else "failed",
                f"{c.duration_s * 1000.0:.1f}",
                _one_line(c.error or "", 70),
            )
            for c in result.tool_calls
        ]
        print_table(rows, ("turn", "tool", "status", "time (ms)", "error"))
        print()
    for error in result.errors:
        print(f"- {_one_line(error, 160)}")
    usage = result.usage.to_dict()
    tokens = usage["total_tokens"]
    print(
        f"Status: {result.status}; {plural(result.turns, 'turn')}, "
        f"{plural(len(result.tool_calls), 'tool call')}, "
        f"{plural(tokens, 'token') if tokens is not None else 'unknown tokens'}, "
        f"{result.total_ms:.1f} ms"
    )


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
