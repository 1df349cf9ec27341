"""The ``agent_loop`` benchmark group: the model-driven loop against a scripted server.

One :class:`~victor_core.testing.ScriptedServer` on 127.0.0.1 serves every
measurement. Its script answers the goal ``noop8`` (or ``sleep8``, ``sleep1``)
with 8 calls of a no-op tool (8 calls, or 1 call, of a 100 ms tool), and
answers in words once the tool results came back; the goal ``answer`` gets
words at once. victor-core runs in a child interpreter, through the provider
the installed plugins offer for ``openai-compatible`` servers (chosen by
settings, found by entry point), and each installed peer in its own child:

* **overhead**: per two-turn run with 8 no-op tools, the run's time minus the
  time the server spent answering (the framework's own cost);
* **parallel tools**: a turn of 8 x 100 ms tools over a turn of one;
* **first token**: from the start of a streamed run to its first text;
* **start-up**: from spawning a fresh ``victor run`` (the installed script, run
  by this interpreter; or the peer's script) to
  the server receiving its first model request (bytecode caches as usual:
  ``PYTHONDONTWRITEBYTECODE`` is unset);
* **RSS**: the child's peak resident memory after one run (MB; ``VmHWM`` on
  Linux, since ``ru_maxrss`` there also counts the parent it was forked from).

Each measured peer also reports the ``versions`` of its distributions.

Peers, measured when installed (``pip install victor-core[bench]``), each
exactly like the others: a plain loop on the ``openai`` SDK (a thread pool for
the tools, as one would write it), pydantic-ai (an OpenAI chat model on the
server's base URL), the OpenAI Agents SDK (a chat-completions model on an
``openai`` client, tracing off) and LangGraph (the prebuilt ReAct agent on
langchain-openai's ``ChatOpenAI``). A peer that is not installed is reported
as ``{"skipped": reason}``, one that fails as ``{"error": message}``; the
others are measured all the same. The peers' scripts are strings run in child
interpreters, so nothing here imports them. ``iterations`` is the number of
runs of each kind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from victor_core.exceptions import BenchmarkError
from victor_core.providers._scripted import ScriptedServer, tool_call

DEFAULT_ITERATIONS = 10
_MAX_ITERATIONS = 200
_ANSWER = "All the tools ran and the work is done, with nothing left to report."

#: The peer that is a hand-written loop on the ``openai`` SDK, not a framework.
PLAIN_LOOP = "openai-plain"

#: Peer name -> (the modules that must be importable for it to be measured, the pip spec).
PEERS: dict[str, tuple[tuple[str, ...], str]] = {
    "openai-plain": (("openai",), "openai"),
    "pydantic-ai": (("pydantic_ai", "openai"), "pydantic-ai-slim[openai]"),
    "openai-agents": (("agents", "openai"), "openai-agents"),
    "langgraph": (("langgraph", "langchain_openai"), "langgraph langchain-openai"),
}


def script(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
    """The server's script: tool calls for a goal, words once the results came back."""
    if any(m.get("role") == "tool" for m in messages):
        return _ANSWER
    goal = next((str(m.get("content")) for m in messages if m.get("role") == "user"), "")
    if "noop8" in goal:
        return [tool_call("noop", {"n": i}) for i in range(8)]
    if "sleep8" in goal:
        return [tool_call("sleep100", {"n": i}) for i in range(8)]
    if "sleep1" in goal:
        return [tool_call("sleep100", {"n": 0})]
    return _ANSWER


#: Every child's peak RSS (it imports ``resource``).
_PEAK_RSS = r"""
def _peak_rss_mb():
    # VmHWM: this process's own peak. ru_maxrss also counts the parent's pages
    # the child was forked with, which a child smaller than its parent reports.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
"""

_VICTOR_CHILD = (
    r"""
import asyncio, json, resource, sys, tempfile, time

"""
    + _PEAK_RSS
    + r"""
from pathlib import Path

from victor_core import AgentOrchestrator, Settings, Tool, hookimpl
from victor_core.agent import TextDelta

base_url, runs = sys.argv[1], int(sys.argv[2])


def noop(n: int) -> int:
    return n


async def sleep100(n: int) -> int:
    await asyncio.sleep(0.1)
    return n


class BenchTools:
    @hookimpl
    def victor_tools(self):
        return [
            Tool(name="noop", description="Does nothing.", func=noop),
            Tool(name="sleep100", description="Sleeps 100 ms.", func=sleep100),
        ]


async def main() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="victor-bench-loop-"))
    settings = Settings(
        cache_dir=tmp / "cache", data_dir=tmp / "data", provider="openai-compatible",
        provider_base_url=base_url, model="bench", local_provider_max_retries=0,
        response_cache_enabled=False, agent_approval="never", max_parallel_workers=8,
        enable_semantic_memory=False, tool_selection_max_tools=64,
    )
    out = {}
    async with AgentOrchestrator(settings) as orch:
        orch.plugin_manager.register(BenchTools())
        await orch.run("answer warm-up", stream=False)
        for phase in ("noop8", "sleep8", "sleep1"):
            start = time.monotonic()
            for i in range(runs):
                result = await orch.run(f"{phase} {i}", stream=False)
                if not result.ok or result.turns != 2:
                    raise SystemExit(f"{phase}: {result.status} {result.errors}")
            out[phase] = {"start": start, "end": time.monotonic(), "runs": runs}
        firsts = []
        for i in range(runs):
            seen = []
            start = time.monotonic()

            def on_event(event, seen=seen, start=start):
                if isinstance(event, TextDelta) and not seen:
                    seen.append((time.monotonic() - start) * 1000.0)

            await orch.run(f"answer {i}", on_event=on_event, stream=True)
            firsts.append(seen[0])
        out["first_token_ms"] = firsts
    out["rss_mb"] = _peak_rss_mb()
    return out


print(json.dumps(asyncio.run(main())))
"""
)

_OPENAI_CHILD = (
    r"""
import asyncio, json, resource, sys, time

"""
    + _PEAK_RSS
    + r"""
from concurrent.futures import ThreadPoolExecutor

import openai

base_url, runs, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
pool = ThreadPoolExecutor(8)


def noop(n):
    return n


def sleep100(n):
    time.sleep(0.1)
    return n


TOOLS = {"noop": noop, "sleep100": sleep100}
DEFS = [
    {"type": "function", "function": {"name": name, "description": name,
     "parameters": {"type": "object", "properties": {"n": {"type": "integer"}},
                    "required": ["n"]}}}
    for name in TOOLS
]


def run(goal, stream=False):
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": goal}]
    first = None
    start = time.monotonic()
    while True:
        if stream:
            text, calls = [], {}
            for chunk in client.chat.completions.create(
                model="bench", messages=messages, tools=DEFS, stream=True
            ):
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    if first is None:
                        first = (time.monotonic() - start) * 1000.0
                    text.append(delta.content)
                for c in delta.tool_calls or ():
                    slot = calls.setdefault(c.index, {"id": "", "name": "", "args": ""})
                    slot["id"] = c.id or slot["id"]
                    if c.function and c.function.name:
                        slot["name"] += c.function.name
                    if c.function and c.function.arguments:
                        slot["args"] += c.function.arguments
            if not calls:
                return first
            tool_calls = [{"id": c["id"], "type": "function",
                           "function": {"name": c["name"], "arguments": c["args"]}}
                          for c in calls.values()]
        else:
            message = client.chat.completions.create(
                model="bench", messages=messages, tools=DEFS
            ).choices[0].message
            if not message.tool_calls:
                return first
            tool_calls = [c.model_dump() for c in message.tool_calls]
        messages.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
        results = list(pool.map(
            lambda c: TOOLS[c["function"]["name"]](**json.loads(c["function"]["arguments"])),
            tool_calls,
        ))
        for c, value in zip(tool_calls, results):
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": str(value)})


if mode == "startup":
    run("answer start-up")
    raise SystemExit(0)
out = {}
run("answer warm-up")
for phase in ("noop8", "sleep8", "sleep1"):
    start = time.monotonic()
    for i in range(runs):
        run(f"{phase} {i}")
    out[phase] = {"start": start, "end": time.monotonic(), "runs": runs}
out["first_token_ms"] = [run(f"answer {i}", stream=True) for i in range(runs)]
out["rss_mb"] = _peak_rss_mb()
print(json.dumps(out))
"""
)


# The asyncio peers share one harness: the framework part defines ``run(goal, stream)``
# (returning the milliseconds to the first streamed text, or None) on the tools
# ``noop`` and ``sleep100``, which call ``_noop``/``_sleep`` below so the harness
# can check that every tool call ran.
_PEER_HEAD = (
    r"""
import asyncio, json, resource, sys, time

"""
    + _PEAK_RSS
    + r"""

base_url, runs, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
CALLS = []
SYSTEM = "You are a helpful assistant."


def _noop(n):
    CALLS.append(n)
    return n


async def _sleep(n):
    await asyncio.sleep(0.1)
    CALLS.append(n)
    return n
"""
)

_PEER_TAIL = r"""

async def main():
    if mode == "startup":
        await run("answer start-up", False)
        return None
    out = {}
    await run("answer warm-up", False)
    for phase, per_run in (("noop8", 8), ("sleep8", 8), ("sleep1", 1)):
        CALLS.clear()
        start = time.monotonic()
        for i in range(runs):
            await run(f"{phase} {i}", False)
        out[phase] = {"start": start, "end": time.monotonic(), "runs": runs}
        if len(CALLS) != per_run * runs:
            raise SystemExit(f"{phase}: {len(CALLS)} tool calls ran, {per_run * runs} expected")
    out["first_token_ms"] = [await run(f"answer {i}", True) for i in range(runs)]
    if None in out["first_token_ms"]:
        raise SystemExit("a streamed run produced no text")
    out["rss_mb"] = _peak_rss_mb()
    return out


result = asyncio.run(main())
if result is not None:
    print(json.dumps(result))
"""

_PYDANTIC_AI = r"""
from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
model = OpenAIChatModel("bench", provider=OpenAIProvider(openai_client=client))
agent = Agent(model, system_prompt=SYSTEM)


@agent.tool_plain
def noop(n: int) -> int:
    "Does nothing."
    return _noop(n)


@agent.tool_plain
async def sleep100(n: int) -> int:
    "Sleeps 100 ms."
    return await _sleep(n)


async def run(goal, stream):
    if not stream:
        await agent.run(goal)
        return None
    start, first = time.monotonic(), None
    async with agent.run_stream(goal) as result:
        async for _ in result.stream_text(delta=True):
            if first is None:
                first = (time.monotonic() - start) * 1000.0
    return first
"""

_OPENAI_AGENTS = r"""
from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI
from openai.types.responses import ResponseTextDeltaEvent

set_tracing_disabled(True)
client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)


@function_tool
def noop(n: int) -> int:
    "Does nothing."
    return _noop(n)


@function_tool
async def sleep100(n: int) -> int:
    "Sleeps 100 ms."
    return await _sleep(n)


agent = Agent(
    name="bench", instructions=SYSTEM, tools=[noop, sleep100],
    model=OpenAIChatCompletionsModel(model="bench", openai_client=client),
)


async def run(goal, stream):
    if not stream:
        await Runner.run(agent, goal)
        return None
    start, first = time.monotonic(), None
    result = Runner.run_streamed(agent, goal)
    async for event in result.stream_events():
        if (first is None and event.type == "raw_response_event"
                and isinstance(event.data, ResponseTextDeltaEvent) and event.data.delta):
            first = (time.monotonic() - start) * 1000.0
    return first
"""

_LANGGRAPH = r"""
import warnings

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


@tool
def noop(n: int) -> int:
    "Does nothing."
    return _noop(n)


@tool
async def sleep100(n: int) -> int:
    "Sleeps 100 ms."
    return await _sleep(n)


llm = ChatOpenAI(model="bench", base_url=base_url, api_key="bench", max_retries=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    graph = create_react_agent(llm, [noop, sleep100], prompt=SYSTEM)


async def run(goal, stream):
    state = {"messages": [("user", goal)]}
    if not stream:
        await graph.ainvoke(state)
        return None
    start, first = time.monotonic(), None
    async for chunk, _ in graph.astream(state, stream_mode="messages"):
        if first is None and getattr(chunk, "content", None):
            first = (time.monotonic() - start) * 1000.0
    return first
"""

#: Peer name -> the script its child runs (argv: base URL, runs, "measure" or "startup").
_PEER_SCRIPTS: dict[str, str] = {
    "openai-plain": _OPENAI_CHILD,
    "pydantic-ai": _PEER_HEAD + _PYDANTIC_AI + _PEER_TAIL,
    "openai-agents": _PEER_HEAD + _OPENAI_AGENTS + _PEER_TAIL,
    "langgraph": _PEER_HEAD + _LANGGRAPH + _PEER_TAIL,
}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra or {})
    return env


def _child(argv: list[str], env: dict[str, str], what: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BenchmarkError(
            f"agent_loop: {what} exited with {proc.returncode}: {' | '.join(tail)}",
            group="agent_loop",
        )
    return proc.stdout


def _server_time(server: ScriptedServer, start: float, end: float) -> float:
    """Seconds the server spent answering requests that arrived in ``[start, end]``."""
    return sum(b - a for a, b in list(server.timings) if start <= a <= end)


def _figures(server: ScriptedServer, doc: dict[str, Any]) -> dict[str, float]:
    def per_run(phase: str) -> tuple[float, float]:
        window = doc[phase]
        total = window["end"] - window["start"]
        busy = _server_time(server, window["start"], window["end"])
        return total / window["runs"] * 1000.0, (total - busy) / window["runs"] * 1000.0

    _, overhead = per_run("noop8")
    sleep8, _ = per_run("sleep8")
    sleep1, _ = per_run("sleep1")
    return {
        "overhead_ms": overhead,
        "eight_tools_ms": sleep8,
        "one_tool_ms": sleep1,
        "eight_over_one": sleep8 / sleep1 if sleep1 else float("nan"),
        "first_token_ms": statistics.median(doc["first_token_ms"]),
        "rss_mb": float(doc["rss_mb"]),
    }


def _startup(server: ScriptedServer, argv: list[str], env: dict[str, str], what: str) -> float:
    """Milliseconds from spawning ``argv`` to the server's next request."""
    seen = len(server.timings)
    spawned = time.monotonic()
    _child(argv, env, what)
    arrivals = [a for a, _ in list(server.timings)[seen:]]
    if not arrivals:
        raise BenchmarkError(f"agent_loop: {what} sent no model request", group="agent_loop")
    return (min(arrivals) - spawned) * 1000.0


def _victor(
    server: ScriptedServer, runs: int, directory: Path, progress: Callable[[str], None]
) -> dict[str, float]:
    if importlib.util.find_spec("victor_openai_provider") is None:
        raise BenchmarkError(
            "the agent_loop group needs an openai-compatible provider plugin "
            "(pip install plugins/victor-openai-provider)",
            group="agent_loop",
        )
    progress(f"victor-core, {runs} runs of each kind")
    out = _child(
        [sys.executable, "-c", _VICTOR_CHILD, server.base_url, str(runs)], _env(), "victor-core"
    )
    figures = _figures(server, json.loads(out.strip().splitlines()[-1]))
    progress("victor-core start-up (a fresh `victor run`)")
    env = _env(
        {
            "VICTOR_PROVIDER": "openai-compatible",
            "VICTOR_PROVIDER_BASE_URL": server.base_url,
            "VICTOR_CACHE_DIR": str(directory / "cache"),
            "VICTOR_DATA_DIR": str(directory / "data"),
            "VICTOR_RESPONSE_CACHE_ENABLED": "false",
        }
    )
    argv = [*_victor_command(), "run", "answer start-up", "--json"]
    starts = [_startup(server, argv, env, "victor run") for _ in range(3)]
    figures["startup_ms"] = statistics.median(starts)
    return figures


def _victor_command() -> list[str]:
    """The ``victor`` script installed beside this interpreter (what a user runs), else ``-m``."""
    bindir = Path(sys.executable).parent
    for name in ("victor", "victor.exe"):
        script = bindir / name
        if script.is_file():
            return [str(script)] if name.endswith(".exe") else [sys.executable, str(script)]
    return [sys.executable, "-m", "victor_core"]


def _peer(server: ScriptedServer, name: str, runs: int, progress: Callable[[str], None]) -> Any:
    """One peer's figures, ``{"skipped": reason}`` or ``{"error": message}``."""
    modules, spec = PEERS[name]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return {"skipped": f"{', '.join(missing)} not installed (pip install {spec})"}
    progress(f"{name}, {runs} runs of each kind")
    argv = [sys.executable, "-c", _PEER_SCRIPTS[name], server.base_url, str(runs), "measure"]
    try:
        lines = _child(argv, _env(), name).strip().splitlines()
        if not lines:
            raise BenchmarkError(f"agent_loop: {name} printed no figures", group="agent_loop")
        figures = _figures(server, json.loads(lines[-1]))
        argv[-1] = "startup"
        figures["startup_ms"] = statistics.median(
            [_startup(server, argv, _env(), f"{name} start-up") for _ in range(3)]
        )
    except (BenchmarkError, ValueError, KeyError, TypeError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    return {**figures, "versions": _versions(spec)}


def _versions(spec: str) -> dict[str, str]:
    """The installed version of each distribution in a pip ``spec`` (metadata only, no import)."""
    from importlib import metadata

    found: dict[str, str] = {}
    for requirement in spec.split():
        dist = requirement.split("[", 1)[0]
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "unknown"
    return found


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Measure the group (see the module documentation)."""
    runs = max(3, min(int(iterations), _MAX_ITERATIONS))
    with (
        tempfile.TemporaryDirectory(prefix="victor-bench-loop-") as tmp,
        ScriptedServer(script) as server,
    ):
        victor = _victor(server, runs, Path(tmp), progress)
        peers: dict[str, Any] = {}
        for name in PEERS:
            peers[name] = _peer(server, name, runs, progress)
    # The plain openai loop is a floor to beat, not a framework: it is left out
    # of "fastest peer" and compared on its own.
    measured = {name: f for name, f in peers.items() if "overhead_ms" in f and name != PLAIN_LOOP}
    plain = peers.get(PLAIN_LOOP, {})
    ratios: dict[str, Any] = {"eight_tools_over_one": victor["eight_over_one"]}
    fastest_peer: dict[str, str] = {}
    for key in ("overhead_ms", "first_token_ms", "startup_ms", "rss_mb"):
        stem = key.rsplit("_", 1)[0]
        if measured:
            name = min(measured, key=lambda peer: float(measured[peer][key]))
            fastest = measured[name][key]
            fastest_peer[key] = name
            ratios[f"{stem}_over_fastest_peer"] = victor[key] / fastest if fastest > 0 else None
        if key in plain:
            base = float(plain[key])
            ratios[f"{stem}_over_plain_loop"] = victor[key] / base if base > 0 else None
    return {
        "latency_ms": victor["overhead_ms"],
        "throughput": 1000.0 / victor["eight_tools_ms"] if victor["eight_tools_ms"] else None,
        "hit_rate": None,
        "ratios": ratios,
        "details": {
            "runs": runs,
            "victor-core": victor,
            "peers": peers,
            "fastest_peer": fastest_peer,
        },
    }
