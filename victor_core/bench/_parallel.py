"""The ``parallel`` benchmark group: what running tools concurrently buys, and costs.

Measured side by side in one run, through the real :class:`~victor_core.executor.ToolExecutor`:

* 8 independent I/O-bound tools (each awaits a 20 ms sleep, as a network call
  would) run one after the other, then with 8 workers: the speed-up, against
  the ideal of 8x;
* the same with 8 blocking tools (``time.sleep``), which run on the bounded
  thread pool;
* scheduling overhead per task: thousands of no-op async tools through
  ``execute_parallel`` (bounded, with a timeout each), against a bare
  ``asyncio.gather`` of the same coroutines;
* ``executor_vs_gather``: the same no-op tools through an orchestrator's
  ``execute_tools_parallel`` (default settings: metrics and the
  ``victor_tool_result`` hook on) against a bare ``asyncio.gather``, per task,
  and the cost of one ``execute_tool`` call there (``execute_tool_us_per_call``);
* the most tools seen running at once, against the bound.

``iterations`` is the number of rounds of the 8-tool comparisons (at most 30,
so that the group stays within a few seconds).
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from victor_core.exceptions import BenchmarkError
from victor_core.execution._executor import ToolExecutor
from victor_core.execution._tools import ToolRegistry
from victor_core.models import Tool
from victor_core.settings import Settings

DEFAULT_ITERATIONS = 20

_TOOLS = 8
_WORKERS = 8
_DELAY_S = 0.02
_MAX_ROUNDS = 30
_NOOP_TASKS = 5000


class _Peak:
    def __init__(self) -> None:
        self.now = 0
        self.peak = 0


def _io_tools(peak: _Peak) -> list[Tool]:
    async def fetch(delay: float = _DELAY_S) -> float:
        peak.now += 1
        peak.peak = max(peak.peak, peak.now)
        try:
            await asyncio.sleep(delay)
        finally:
            peak.now -= 1
        return delay

    return [
        Tool(name=f"fetch_{i}", description="Fetch a remote document", func=fetch)
        for i in range(_TOOLS)
    ]


def _blocking_tools() -> list[Tool]:
    def wait(delay: float = _DELAY_S) -> float:
        time.sleep(delay)
        return delay

    return [
        Tool(name=f"block_{i}", description="A blocking call", func=wait) for i in range(_TOOLS)
    ]


async def _noop() -> None:
    return None


async def _timed(coro_factory: Callable[[], Any]) -> float:
    start = time.perf_counter()
    await coro_factory()
    return time.perf_counter() - start


async def _orchestrator_overhead(progress: Callable[[str], None]) -> dict[str, float]:
    """Per-task and per-call microseconds of the orchestrator's tool paths (best of 3)."""
    from victor_core.orchestrator import AgentOrchestrator

    root = tempfile.mkdtemp(prefix="victor-bench-parallel-")
    orchestrator = AgentOrchestrator(
        Settings(cache_dir=f"{root}/cache", data_dir=f"{root}/data", max_parallel_workers=_WORKERS)
    )
    try:
        orchestrator.tools.register(Tool(name="noop", description="Does nothing", func=_noop))
        names = ["noop"] * _NOOP_TASKS
        warm = await orchestrator.execute_tools_parallel(names[:100])
        failed = [r for r in warm if not r.ok]
        if failed:
            raise BenchmarkError(f"no-op tool failed: {failed[0].error}", group="parallel")
        progress(f"parallel: {_NOOP_TASKS} no-op tools through execute_tools_parallel")
        batch, gathered, single = [], [], []
        for _ in range(3):
            batch.append(
                await _timed(lambda: orchestrator.execute_tools_parallel(names)) / _NOOP_TASKS
            )

            async def gather_all() -> None:
                await asyncio.gather(*(_noop() for _ in range(_NOOP_TASKS)))

            gathered.append(await _timed(gather_all) / _NOOP_TASKS)
            start = time.perf_counter()
            for _ in range(1000):
                await orchestrator.execute_tool("noop")
            single.append((time.perf_counter() - start) / 1000)
    finally:
        await orchestrator.aclose()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "executor_us_per_task": min(batch) * 1e6,
        "gather_us_per_task": min(gathered) * 1e6,
        "execute_tool_us_per_call": min(single) * 1e6,
    }


async def _measure(rounds: int, progress: Callable[[str], None]) -> dict[str, Any]:
    peak = _Peak()
    tools = _io_tools(peak) + _blocking_tools()
    tools.append(Tool(name="noop", description="Does nothing", func=_noop))
    registry = ToolRegistry(tools=tools)
    parallel = ToolExecutor(Settings(max_parallel_workers=_WORKERS), registry)
    sequential = ToolExecutor(Settings(parallel_execution_enabled=False), registry)
    io_names = [f"fetch_{i}" for i in range(_TOOLS)]
    block_names = [f"block_{i}" for i in range(_TOOLS)]
    try:
        # Warm up: thread pool, code paths.
        await parallel.execute_parallel(block_names, max_workers=_WORKERS)
        await parallel.execute_parallel(io_names, max_workers=_WORKERS)

        progress(f"parallel: {rounds} rounds of {_TOOLS} I/O-bound tools, sequential vs parallel")
        io_seq, io_par = [], []
        for _ in range(rounds):
            io_seq.append(await _timed(lambda: sequential.execute_parallel(io_names)))
            io_par.append(
                await _timed(lambda: parallel.execute_parallel(io_names, max_workers=_WORKERS))
            )
        peak_seen = peak.peak

        progress(f"parallel: {rounds} rounds of {_TOOLS} blocking tools on threads")
        block_rounds = max(1, rounds // 2)
        bl_seq, bl_par = [], []
        for _ in range(block_rounds):
            bl_seq.append(await _timed(lambda: sequential.execute_parallel(block_names)))
            bl_par.append(
                await _timed(lambda: parallel.execute_parallel(block_names, max_workers=_WORKERS))
            )

        progress(f"parallel: scheduling overhead over {_NOOP_TASKS} no-op tools")
        noop_names = ["noop"] * _NOOP_TASKS
        overhead, bare = [], []
        for _ in range(3):
            overhead.append(
                await _timed(lambda: parallel.execute_parallel(noop_names, max_workers=_WORKERS))
                / _NOOP_TASKS
            )

            async def gather_all() -> None:
                await asyncio.gather(*(_noop() for _ in range(_NOOP_TASKS)))

            bare.append(await _timed(gather_all) / _NOOP_TASKS)
        single = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(1000):
                await parallel.execute("noop")
            single.append((time.perf_counter() - start) / 1000)
    finally:
        parallel.close()
        sequential.close()
    orchestrated = await _orchestrator_overhead(progress)

    io_seq_ms = statistics.median(io_seq) * 1000
    io_par_ms = statistics.median(io_par) * 1000
    bl_seq_ms = statistics.median(bl_seq) * 1000
    bl_par_ms = statistics.median(bl_par) * 1000
    overhead_us = min(overhead) * 1e6
    bare_us = min(bare) * 1e6
    single_us = min(single) * 1e6
    return {
        "latency_ms": io_par_ms,
        "throughput": 1e6 / overhead_us,
        "hit_rate": None,
        "ratios": {
            "io_speedup_8_tools": io_seq_ms / io_par_ms,
            "blocking_speedup_8_tools": bl_seq_ms / bl_par_ms,
            "io_task_time_saved": 1 - io_par_ms / io_seq_ms,
            "overhead_vs_bare_gather": overhead_us / bare_us,
            "executor_vs_gather": (
                orchestrated["executor_us_per_task"] / orchestrated["gather_us_per_task"]
            ),
        },
        "details": {
            "tools": _TOOLS,
            "workers": _WORKERS,
            "tool_delay_ms": _DELAY_S * 1000,
            "rounds": rounds,
            "io_sequential_ms": io_seq_ms,
            "io_parallel_ms": io_par_ms,
            "io_ideal_parallel_ms": _DELAY_S * 1000,
            "blocking_sequential_ms": bl_seq_ms,
            "blocking_parallel_ms": bl_par_ms,
            "overhead_us_per_task_parallel": overhead_us,
            "overhead_us_per_task_bare_gather": bare_us,
            "overhead_us_per_execute_call": single_us,
            "peak_concurrency": peak_seen,
            **orchestrated,
        },
    }


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Measure the group (see the module documentation); ``iterations`` = rounds."""
    rounds = max(1, min(int(iterations), _MAX_ROUNDS))
    return asyncio.run(_measure(rounds, progress))
