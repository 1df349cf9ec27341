"""The ``analysis`` benchmark group: the code-analysis tools on real trees of Python.

Trees of 100, 500 and 2,000 Python files copied from the standard library of
the running interpreter into a temporary folder (files reused under other
names when it has fewer), each measured in one run:

* ``analyze_code`` through an orchestrator (the installed tools family, as an
  agent runs it): seconds per MB of source and CPU use, that is the process's
  and its children's CPU time over the wall time (2.0 means two cores busy
  throughout), on a cold per-file cache, then warm (nothing changed);
* ``victor run "analyze the code quality"`` end to end in a fresh interpreter,
  cold then warm, with the CPU time of the process and its workers.

``iterations`` is the number of rounds per tree (the fastest is reported; at
most 5, so that the group stays well under a minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import BenchmarkError

if TYPE_CHECKING:
    from victor_core.settings import Settings

DEFAULT_ITERATIONS = 1

SIZES = (100, 500, 2000)
_MAX_ROUNDS = 5
_GOAL = "analyze the code quality"
_MAIN = "import sys; from victor_core.cli import main; sys.exit(main(sys.argv[1:]))"


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows: children are not counted
        return time.process_time()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _corpus() -> list[Path]:
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p
        for p in stdlib.rglob("*.py")
        if "site-packages" not in p.parts and "dist-packages" not in p.parts and p.is_file()
    )
    if not files:
        raise BenchmarkError("the analysis benchmark needs the standard library's sources")
    return files


def _make_tree(root: Path, corpus: list[Path], count: int) -> int:
    size = 0
    for i in range(count):
        source = corpus[i % len(corpus)]
        target = root / f"d{i // 50:03d}" / f"m{i:05d}_{source.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        size += target.stat().st_size
    return size


def _measure(call: Callable[[], Any]) -> tuple[float, float, Any]:
    cpu, start = _cpu(), time.perf_counter()
    value = call()
    wall = time.perf_counter() - start
    return wall, (_cpu() - cpu) / wall if wall > 0 else 0.0, value


def _env(cache: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VICTOR_")}
    # A user's machine writes bytecode; a sandbox that forbids it would inflate start-up.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["VICTOR_CACHE_DIR"] = str(cache)
    env["VICTOR_DATA_DIR"] = str(data)
    return env


def _victor_run(tree: Path, env: dict[str, str]) -> int:
    proc = subprocess.run(
        # The console script's own code, so that no installed script is needed.
        [sys.executable, "-c", _MAIN, "run", _GOAL, "--path", str(tree), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchmarkError(f"victor run failed with exit code {proc.returncode}: {tail}")
    return proc.returncode


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="victor-bench-analysis-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _cold_and_warm(settings: Settings, tree: Path) -> list[tuple[float, float, Any]]:
    """``analyze_code`` twice on ``tree`` through one orchestrator: wall time, cores, result."""
    from victor_core.orchestrator import AgentOrchestrator

    out = []
    async with AgentOrchestrator(settings) as orch:
        await orch.tools.ensure_loaded()
        if "analyze_code" not in orch.tools:
            raise BenchmarkError(
                "the analysis benchmark needs the analyze_code tool "
                "(pip install victor-workspace-tools)"
            )
        for _ in ("cold", "warm"):
            start, cpu = time.perf_counter(), _cpu()
            result = await orch.execute_tool("analyze_code", path=str(tree))
            wall = time.perf_counter() - start
            if not result.ok:
                raise BenchmarkError(f"analyze_code failed: {result.error}")
            out.append((wall, (_cpu() - cpu) / wall if wall > 0 else 0.0, result.value))
    return out


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Measure the analysis tools (see the module documentation)."""
    from victor_core.settings import Settings

    rounds = max(1, min(iterations, _MAX_ROUNDS))
    corpus = _corpus()
    trees: dict[str, Any] = {}
    with _workdir() as work:
        for count in SIZES:
            tree = work / f"tree{count}"
            size = _make_tree(tree, corpus, count)
            mb = size / 1e6
            best: dict[str, tuple[float, float]] = {}
            files_done = 0
            for n in range(rounds):
                cache, data = work / f"cache{count}-{n}", work / f"data{count}-{n}"
                settings = Settings(cache_dir=cache, data_dir=data, metrics_enabled=False)

                progress(f"analysis: analyze_code on {count} files ({mb:.1f} MB), round {n + 1}")
                (cold_s, cold_cpu, value), (warm_s, warm_cpu, _) = asyncio.run(
                    _cold_and_warm(settings, tree)
                )
                files_done = int(value["totals"]["files"])
                for key, figure in (("cold", (cold_s, cold_cpu)), ("warm", (warm_s, warm_cpu))):
                    if key not in best or figure[0] < best[key][0]:
                        best[key] = figure
                progress(f"analysis: victor run on {count} files, round {n + 1}")
                env = _env(work / f"run-cache{count}-{n}", data)
                for key in ("run_cold", "run_warm"):
                    wall, cpu, _ = _measure(lambda: _victor_run(tree, env))  # noqa: B023 - called at once
                    if key not in best or wall < best[key][0]:
                        best[key] = (wall, cpu)
            trees[str(count)] = {
                "files": count,
                "files_analysed": files_done,
                "mb": round(mb, 3),
                "cold_s": best["cold"][0],
                "cold_s_per_mb": best["cold"][0] / mb,
                "cold_cpu_cores": best["cold"][1],
                "warm_s": best["warm"][0],
                "warm_s_per_mb": best["warm"][0] / mb,
                "warm_cpu_cores": best["warm"][1],
                "run_cold_s": best["run_cold"][0],
                "run_cold_cpu_cores": best["run_cold"][1],
                "run_warm_s": best["run_warm"][0],
                "run_warm_cpu_cores": best["run_warm"][1],
            }
            shutil.rmtree(tree, ignore_errors=True)
    largest = trees[str(SIZES[-1])]
    return {
        "latency_ms": largest["cold_s"] * 1000.0,
        "throughput": largest["mb"] / largest["cold_s"],
        "hit_rate": None,
        "ratios": {
            f"cold_over_warm_{SIZES[-1]}": largest["cold_s"] / largest["warm_s"],
            **{f"cpu_cores_{k}": v["cold_cpu_cores"] for k, v in trees.items()},
        },
        "details": {
            "trees": trees,
            "cpu_count": os.cpu_count(),
            "what": "latency_ms: cold analyze_code on the largest tree; throughput: MB/s",
        },
    }
