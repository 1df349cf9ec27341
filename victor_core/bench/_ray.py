"""The Ray part of the ``distributed`` benchmark group: the Ray executor against the local one.

Measured in a fresh process (so the first call really is the first, and the
Ray instance it starts ends with it), through the orchestrator with
``executor_backend = "ray"`` (the backend comes from its plugin, found by
the ``victor_executor_backend`` hook; this module imports neither the plugin
nor Ray):

* the first call: Ray imported, started (or joined at ``VICTOR_RAY_ADDRESS``)
  and the first actor up, in seconds; then the first call of a second
  orchestrator in the same process (Ray connected: one actor to start);
* 8 I/O-bound tools (each awaits a 100 ms sleep, as a network call would)
  and 8 blocking ones (``time.sleep(0.1)``), with 8 workers, on Ray and on
  the local backend, after a warm-up round (median milliseconds per batch);
* overhead per call: a no-op tool run one call after another, and in
  batches of 8, on both backends (median microseconds per call).

Without the ``victor-ray`` plugin the section is ``{"skipped": "ray plugin
not installed"}``; when Ray cannot start, ``skipped`` says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from victor_core.exceptions import BenchmarkError

__all__ = ["measure", "ray_section"]

_TOOLS = 8
_DELAY_S = 0.1
_SUBPROCESS_TIMEOUT_S = 600


async def _io(delay: float = _DELAY_S) -> float:
    await asyncio.sleep(delay)
    return delay


def _blocking(delay: float = _DELAY_S) -> float:
    time.sleep(delay)
    return delay


async def _noop() -> None:
    return None


def ray_section(iterations: int) -> dict[str, Any]:
    """The Ray section of ``victor bench distributed`` (see the module docstring)."""
    env = dict(os.environ)
    # A throwaway instance for the run, on this machine: no token written to
    # the home folder, and its session files in a folder removed afterwards.
    env.setdefault("RAY_AUTH_MODE", "disabled")
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    scratch = Path(tempfile.mkdtemp(prefix="victor-bench-ray-"))
    env.setdefault("RAY_TMPDIR", str(scratch))
    try:
        return _run_section(env, iterations)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_section(env: dict[str, str], iterations: int) -> dict[str, Any]:
    code = (
        "import json, sys\n"
        "from victor_core.bench._ray import measure\n"
        "print(json.dumps(measure(int(sys.argv[1]))), flush=True)\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, str(int(iterations))],
            capture_output=True,
            text=True,
            env=env,
            timeout=_SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"the Ray benchmark did not finish within {_SUBPROCESS_TIMEOUT_S} s"}
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        tail = " | ".join(out.stderr.strip().splitlines()[-3:])
        return {"skipped": f"the Ray benchmark process failed (exit {out.returncode}): {tail}"}
    result = json.loads(lines[-1])
    return dict(result) if isinstance(result, dict) else {"result": result}


def measure(iterations: int) -> dict[str, Any]:
    """Run the measurements in this process (Ray must not be connected yet)."""
    root = Path(tempfile.mkdtemp(prefix="victor-bench-ray-"))
    try:
        return asyncio.run(_measure(root, iterations))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _orchestrator(root: Path, backend: str) -> Any:
    from victor_core.models import Tool
    from victor_core.orchestrator import AgentOrchestrator
    from victor_core.settings import Settings

    settings = Settings(
        cache_dir=root / backend / "cache",
        data_dir=root / backend / "data",
        executor_backend=backend,
        ray_address=os.environ.get("VICTOR_RAY_ADDRESS", ""),
        max_parallel_workers=_TOOLS,
    )
    orchestrator = AgentOrchestrator(settings)
    for name, func, what in (
        ("io", _io, "Await a 100 ms sleep"),
        ("blocking", _blocking, "Sleep 100 ms on a thread"),
        ("noop", _noop, "Do nothing"),
    ):
        orchestrator.tools.register(Tool(name=name, description=what, func=func))
    return orchestrator


async def _measure(root: Path, iterations: int) -> dict[str, Any]:
    from victor_core.exceptions import SettingsError, ToolError

    rounds = max(3, min(iterations // 100, 10))
    calls = max(20, min(iterations, 300))
    ray = _orchestrator(root, "ray")
    local = _orchestrator(root, "local")
    try:
        start = time.perf_counter()
        try:
            first = await ray.execute_tool("noop")
        except SettingsError:
            return {"skipped": "ray plugin not installed"}
        except ToolError as exc:  # the plugin's RayConnectionError
            return {"skipped": f"Ray did not start: {exc}"}
        first_call_s = time.perf_counter() - start
        if not first.ok:
            return {"skipped": f"a tool did not run on Ray: {first.error}"}
        second = _orchestrator(root / "second", "ray")
        try:
            start = time.perf_counter()
            await second.execute_tool("noop")
            second_first_call_s = time.perf_counter() - start
        finally:
            await second.aclose()
        section: dict[str, Any] = {
            "first_call_s": first_call_s,
            "first_call_connected_s": second_first_call_s,
        }
        for tool in ("io", "blocking"):
            section[f"{tool}_8x100ms_ms"] = {
                name: await _batch_ms(orch, tool, rounds)
                for name, orch in (("ray", ray), ("local", local))
            }
        section["overhead_per_call_us"] = {
            name: await _per_call_us(orch, calls) for name, orch in (("ray", ray), ("local", local))
        }
        section["overhead_per_call_in_batches_of_8_us"] = {
            name: await _per_batched_call_us(orch, max(3, calls // _TOOLS))
            for name, orch in (("ray", ray), ("local", local))
        }
        section["rounds"] = rounds
        section["calls"] = calls
        section["cpus"] = os.cpu_count()
        return section
    finally:
        for orchestrator in (ray, local):
            with contextlib.suppress(Exception):  # a failed start leaves nothing to close
                await orchestrator.aclose()


async def _batch_ms(orchestrator: Any, tool: str, rounds: int) -> float:
    names = [tool] * _TOOLS
    await orchestrator.execute_tools_parallel(names, max_workers=_TOOLS)  # warm-up
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        results = await orchestrator.execute_tools_parallel(names, max_workers=_TOOLS)
        samples.append((time.perf_counter() - start) * 1000)
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise BenchmarkError(f"the {tool!r} tools failed: {failed[0]}", group="distributed")
    return statistics.median(samples)


async def _per_call_us(orchestrator: Any, calls: int) -> float:
    await orchestrator.execute_tool("noop")
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await orchestrator.execute_tool("noop")
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


async def _per_batched_call_us(orchestrator: Any, batches: int) -> float:
    names = ["noop"] * _TOOLS
    await orchestrator.execute_tools_parallel(names, max_workers=_TOOLS)
    samples = []
    for _ in range(batches):
        start = time.perf_counter()
        await orchestrator.execute_tools_parallel(names, max_workers=_TOOLS)
        samples.append((time.perf_counter() - start) * 1e6 / _TOOLS)
    return statistics.median(samples)
