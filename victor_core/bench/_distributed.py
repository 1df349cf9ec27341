"""The ``distributed`` benchmark group: the shared levels and backends beyond one process.

Measured in one run, side by side:

* a lookup answered by L1 (memory), by the disk level and by the Redis level
  (L1 emptied before each lookup, as in a fresh process), in microseconds;
* invalidation latency: one process overwrites a key, another process's L1
  hears of it (median and p99, milliseconds, over ``min(iterations, 200)``
  overwrites; both processes on this machine, so one clock);
* the Ray executor, when the ``victor-ray`` section of the benchmarks exists
  (``victor_core.bench._ray.ray_section``), under the key ``"ray"``.

The Redis part needs the ``redis`` backend (the victor-redis plugin, found
through its entry point) and a server: a ``redis-server`` binary on PATH is
started on a free port of 127.0.0.1 for the run and stopped by its pid.
Without either, that part is skipped with the reason in ``details``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from victor_core.cache import LevelFactory, TieredCache
from victor_core.exceptions import BenchmarkError

DEFAULT_ITERATIONS = 1000

_VALUE = {"tools": ["read_file", "grep", "run_tests"], "why": "x" * 200}


def _lookup_us(cache: TieredCache, rounds: int, *, empty_l1: bool) -> float:
    """Median microseconds of one ``get`` (after emptying L1 when ``empty_l1``)."""
    samples = []
    gc.collect()
    for _ in range(rounds):
        if empty_l1:
            cache.shrink(1.0)
        start = time.perf_counter()
        cache.get("key")
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _redis_server(directory: Path) -> Iterator[str | None]:
    """A throwaway redis-server for the run (None: no binary); stopped by its pid."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(directory)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def _redis_factory(url: str) -> tuple[LevelFactory | None, str | None]:
    """The redis backend's level factory through its hook, or (None, why not)."""
    from victor_core.plugins import PluginManager
    from victor_core.settings import Settings

    settings = Settings(cache_backend="redis", redis_url=url)
    try:
        factory = PluginManager(settings).hook.victor_cache_backend(name="redis", settings=settings)
    except Exception as exc:  # a broken plugin is a skipped section, not a failed run
        return None, f"the redis backend failed to load: {exc}"
    if factory is None:
        return None, "no 'redis' cache backend installed (pip install plugins/victor-redis)"
    return factory, None


_LISTENER = textwrap.dedent(
    """
    import sys, time
    from victor_core.plugins import PluginManager
    from victor_core.settings import Settings

    settings = Settings(cache_backend="redis", redis_url=sys.argv[1])
    factory = PluginManager(settings).hook.victor_cache_backend(name="redis", settings=settings)
    level = factory("bench_invalidation")

    def heard(keys):
        # The moment this process's L1 would drop its copy.
        print(time.monotonic(), flush=True)

    level.watch(heard)
    print("ready", flush=True)
    sys.stdin.read()
    level.close()
    """
)


def _invalidation_ms(url: str, factory: LevelFactory, count: int) -> dict[str, float]:
    """Latency from one process's overwrite to another's L1 (same machine, one clock)."""
    listener = subprocess.Popen(
        [sys.executable, "-c", _LISTENER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    writer = TieredCache("bench_invalidation", level=factory("bench_invalidation"), ttl=60)
    try:
        if listener.stdout is None or listener.stdout.readline().strip() != "ready":
            raise BenchmarkError(
                "the invalidation listener process did not start", group="distributed"
            )
        samples = []
        for n in range(count):
            start = time.monotonic()
            writer.set("key", n)
            heard = float(listener.stdout.readline())
            samples.append((heard - start) * 1000)
        samples.sort()
        return {
            "median_ms": statistics.median(samples),
            "p99_ms": samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))],
            "samples": float(len(samples)),
        }
    finally:
        writer.clear()
        writer.close()
        if listener.stdin is not None:
            with contextlib.suppress(OSError):
                listener.stdin.close()
        try:
            listener.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(listener.pid, signal.SIGKILL)
            listener.wait()
        if listener.stdout is not None:
            listener.stdout.close()


def _redis_section(
    directory: Path, rounds: int, iterations: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    with _redis_server(directory) as url:
        if url is None:
            return {"skipped": "no redis-server on PATH (apt-get install redis-server)"}
        factory, why = _redis_factory(url)
        if factory is None:
            return {"skipped": why}
        progress("distributed: L2 hit from Redis")
        cache = TieredCache("bench_l2", level=factory("bench_l2"), ttl=600)
        try:
            cache.set("key", _VALUE)
            if cache.stats()["l2"]["available"] is not True:
                return {"skipped": f"the redis-server at {url} did not answer"}
            l2_us = _lookup_us(cache, rounds, empty_l1=True)
            cache.clear()
        finally:
            cache.close()
        progress("distributed: invalidation latency between two processes")
        latency = _invalidation_ms(url, factory, max(5, min(iterations, 200)))
        return {"l2_hit_us": l2_us, "invalidation": latency}


def _ray_section(iterations: int) -> dict[str, Any]:
    try:
        module = importlib.import_module("victor_core.bench._ray")
    except ImportError as exc:
        return {"skipped": f"no Ray benchmark section in this installation ({exc})"}
    section = module.ray_section(iterations)
    return dict(section) if isinstance(section, dict) else {"result": section}


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Run the group; see the module docstring."""
    rounds = max(50, min(iterations, 2000))
    root = Path(tempfile.mkdtemp(prefix="victor-bench-distributed-"))
    try:
        progress("distributed: L1 and disk hits")
        with TieredCache("bench_l2", directory=root / "disk", ttl=600) as disk:
            disk.set("key", _VALUE)
            l1_us = _lookup_us(disk, rounds, empty_l1=False)
            disk_us = _lookup_us(disk, rounds, empty_l1=True)
        redis = _redis_section(root / "redis", rounds, iterations, progress)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    progress("distributed: Ray executor")
    ray = _ray_section(iterations)
    redis_us = redis.get("l2_hit_us")
    headline = redis_us if redis_us is not None else disk_us
    ratios: dict[str, float] = {"disk_vs_l1": disk_us / l1_us}
    if redis_us is not None:
        ratios["redis_vs_disk"] = redis_us / disk_us
        ratios["redis_vs_l1"] = redis_us / l1_us
    return {
        "latency_ms": headline / 1000,
        "throughput": 1e6 / headline,
        "hit_rate": None,
        "ratios": ratios,
        "details": {
            "l1_hit_us": l1_us,
            "disk_l2_hit_us": disk_us,
            "redis": redis,
            "lookups_per_level": rounds,
        },
        "ray": ray,
    }
