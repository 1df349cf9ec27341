"""The ``memory`` benchmark group: process memory, episode storage, search, pruning.

Everything is measured in one run, on temporary directories:

* resident memory (RSS) of a bare interpreter, of a process holding a ready
  ``AgentOrchestrator`` (idle) and of the same process after it used memory,
  caches and metrics (active), each in its own fresh subprocess;
* episodes recorded per second, one ``record`` at a time and in batches of
  100 (``record_many``: one transaction each);
* ``episodic_memory.search`` latency at 10,000 and 100,000 stored episodes
  (two- and three-word queries over a Zipf-distributed vocabulary);
* ``clear_old_episodes`` removing 10,000 of 20,000 episodes;
* ``consolidate()`` over 2,000 facts (10% near-duplicates) and 500 episodes.

The headline ``latency_ms`` is the median search latency at 10,000 episodes;
``throughput`` is single-record episodes per second.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from victor_core.memory._memory import Episode, MemoryManager
from victor_core.memory._sqlite import DB_FILENAME, SqliteMemoryBackend
from victor_core.selection._embedding import HashingEmbedder
from victor_core.settings import Settings

DEFAULT_ITERATIONS = 200

_DAY = 86400.0
# Keep the whole group near 15 s on two cores: the 100,000-episode step is
# skipped when the run has already used this much.
_BUDGET_S = 10.0

# The child says "stage <name>" on stdout and waits for a line on stdin; the
# parent reads the child's RSS (psutil, in the parent) at each stage. So the
# bare interpreter imports nothing beyond what `python -c` itself does.
_BARE_SCRIPT = "import sys; print('stage bare', flush=True); sys.stdin.readline()"
_ORCHESTRATOR_SCRIPT = textwrap.dedent(
    """
    import sys

    def stage(name):
        print("stage " + name, flush=True)
        sys.stdin.readline()

    import tempfile
    from victor_core import AgentOrchestrator, Settings

    tmp = tempfile.mkdtemp()
    target = AgentOrchestrator(Settings(data_dir=tmp + "/data", cache_dir=tmp + "/cache"))
    stage("idle")

    import asyncio, json

    async def work():
        memory = target.memory
        await memory.episodic.record_many(
            {"goal": f"task {i} on project {i % 37}", "actions": ["read", "edit"],
             "outcome": "done" if i % 3 else "failed"} for i in range(2000))
        for i in range(200):
            await memory.episodic.search(f"project {i % 37} task", 5)
        await memory.semantic.add_facts(f"project {i} uses tool {i % 11}" for i in range(500))
        await memory.consolidate()
        await target.get_cache_stats()
        await target.get_metrics()

    asyncio.run(work())
    stage("active")
    asyncio.run(target.aclose())
    """
)


def _rss(mode: str) -> dict[str, Any]:
    """RSS (MB) of a fresh child at each of its stages, read from this process.

    ``bare``: ``{"bare_mb"}``; ``orchestrator``: ``{"idle_mb", "active_mb", "kind"}``
    (``{"error"}`` when the child fails).
    """
    import os

    import psutil

    script = _BARE_SCRIPT if mode == "bare" else _ORCHESTRATOR_SCRIPT
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out: dict[str, Any] = {} if mode == "bare" else {"kind": "AgentOrchestrator"}
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        stdin, stdout = child.stdin, child.stdout
        if stdin is None or stdout is None:  # pragma: no cover - both are pipes
            return {"error": "the child has no pipes"}
        try:
            for line in stdout:
                if line.startswith("stage "):
                    name = line.split()[1]
                    out[f"{name}_mb"] = psutil.Process(child.pid).memory_info().rss / 2**20
                    stdin.write("\n")
                    stdin.flush()
            child.wait(timeout=120)
        except (OSError, subprocess.TimeoutExpired, psutil.Error) as exc:
            child.kill()
            return {"error": f"{type(exc).__name__}: {exc}"}
        if child.returncode != 0:
            lines = (child.stderr.read() if child.stderr else "").strip().splitlines()
            return {"error": (lines or [f"exit {child.returncode}"])[-1]}
    return out


class _Words:
    """Text with a Zipf-like vocabulary, so search sees common and rare words."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        common = ["fix", "test", "deploy", "read", "file", "service", "error", "config", "api"]
        self.vocab = common + [f"term{i}" for i in range(5000)]
        self.cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(self.vocab))))

    def words(self, n: int) -> list[str]:
        top = self.cum[-1]
        return [self.vocab[bisect.bisect(self.cum, self.rng.random() * top)] for _ in range(n)]

    def episode(self) -> dict[str, Any]:
        return {
            "goal": " ".join(self.words(6)),
            "actions": [" ".join(self.words(2))],
            "outcome": " ".join(self.words(3)),
        }


async def _fill(manager: MemoryManager, words: _Words, count: int) -> None:
    # Set-up, not measured: straight to the backend in large transactions.
    backend = await manager.get_backend()
    cap = manager.settings.episodic_memory_max_episodes
    for start in range(0, count, 5000):
        batch = []
        for _ in range(min(5000, count - start)):
            e = words.episode()
            batch.append(
                Episode(
                    goal=e["goal"],
                    actions=tuple(e["actions"]),
                    outcome=e["outcome"],
                    created_at=manager.clock(),
                )
            )
        await backend.add_episodes(batch, max_episodes=cap)


async def _search_ms(manager: MemoryManager, words: _Words, queries: int) -> dict[str, float]:
    texts = [" ".join(words.words(2 + i % 2)) for i in range(queries)]
    for text in texts[:10]:  # warm the page cache
        await manager.episodic.search(text, 5)
    samples = []
    for text in texts:
        start = time.perf_counter()
        await manager.episodic.search(text, 5)
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": samples[int(len(samples) * 0.95) - 1],
    }


async def _storage(
    root: Path, iterations: int, progress: Callable[[str], None], started: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    settings = Settings(data_dir=root / "a", episodic_memory_max_episodes=200_000)
    backend = SqliteMemoryBackend(settings.data_dir / DB_FILENAME)
    manager = MemoryManager(None, settings, backend=backend)
    words = _Words()
    try:
        progress("memory: recording episodes one by one and in batches")
        out.update(await _records(manager, words, iterations))

        progress("memory: search at 10,000 episodes")
        out["episodes_small"] = await manager.episodic.count()
        out["search_10k"] = await _search_ms(manager, words, iterations)

        if time.perf_counter() - started < _BUDGET_S:
            progress("memory: filling to 100,000 episodes")
            start = time.perf_counter()
            await _fill(manager, words, 90_000)
            out["fill_90k_s"] = time.perf_counter() - start
            out["episodes_large"] = await manager.episodic.count()
            progress("memory: search at 100,000 episodes")
            out["search_100k"] = await _search_ms(manager, words, iterations)
        else:
            out["search_100k"] = None
            out["search_100k_skipped"] = "time budget spent before the 100,000-episode step"
        out["db_size_mb"] = (await backend.stats())["size_bytes"] / (1024 * 1024)
        out["search_mode"] = (await backend.stats())["search"]

        progress("memory: executor hop (why SQLite runs on a worker thread)")
        out["worker_thread_hop_us"] = await _hop_us(backend)
    finally:
        await manager.aclose()
    return out


async def _records(manager: MemoryManager, words: _Words, iterations: int) -> dict[str, float]:
    """Episodes recorded per second one by one, then in batches of 100, up to 10,000."""
    await manager.episodic.record("warm up", [], "ok")
    singles = max(200, iterations * 5)
    start = time.perf_counter()
    for _ in range(singles):
        e = words.episode()
        await manager.episodic.record(e["goal"], e["actions"], e["outcome"])
    single_per_s = singles / (time.perf_counter() - start)
    batched = 10_000 - singles - 1
    start = time.perf_counter()
    for begin in range(0, batched, 100):
        await manager.episodic.record_many(
            words.episode() for _ in range(min(100, batched - begin))
        )
    return {
        "record_single_per_s": single_per_s,
        "record_batched_per_s": batched / (time.perf_counter() - start),
    }


async def _hop_us(backend: SqliteMemoryBackend) -> float:
    """Median cost (us) of one hop to the backend's worker thread and back."""
    loop = asyncio.get_running_loop()
    executor = backend._executor
    hops = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(200):
            await loop.run_in_executor(executor, int)
        hops.append((time.perf_counter() - start) / 200 * 1e6)
    return statistics.median(hops)


async def _prune(root: Path) -> dict[str, Any]:
    now = 1_700_000_000.0
    clock_value = [now - 60 * _DAY]
    settings = Settings(data_dir=root / "p", episodic_memory_max_episodes=100_000)
    backend = SqliteMemoryBackend(settings.data_dir / DB_FILENAME)
    manager = MemoryManager(None, settings, clock=lambda: clock_value[0], backend=backend)
    words = _Words(11)
    try:
        await _fill(manager, words, 10_000)
        clock_value[0] = now - _DAY
        await _fill(manager, words, 10_000)
        clock_value[0] = now
        start = time.perf_counter()
        removed = await manager.episodic.clear_old_episodes(days=30)
        elapsed = (time.perf_counter() - start) * 1000.0
        return {"prune_ms": elapsed, "pruned": removed, "left": await manager.episodic.count()}
    finally:
        await manager.aclose()


async def _consolidation(root: Path) -> dict[str, Any]:
    settings = Settings(data_dir=root / "c", semantic_memory_max_facts=10_000)
    backend = SqliteMemoryBackend(settings.data_dir / DB_FILENAME)
    # The embedder the orchestrator gives consolidation, so near-duplicates merge.
    manager = MemoryManager(
        None, settings, backend=backend, embedder=HashingEmbedder(concepts=None)
    )
    words = _Words(3)
    texts = [f"{' '.join(words.words(5))} item{i}" for i in range(1800)]
    # Near-duplicates under other keys: a stop word added, two words hyphenated.
    variants = [t.rsplit(" ", 1)[0] + " the " + t.rsplit(" ", 1)[1] for t in texts[:100]]
    variants += [t.replace(" ", "-", 1) for t in texts[100:200]]
    try:
        await manager.semantic.add_facts(texts + variants)
        await manager.episodic.record_many(
            {"goal": f"routine job {i % 50}", "outcome": "ok"} for i in range(500)
        )
        facts = await manager.semantic.count()
        start = time.perf_counter()
        first = await manager.consolidate()
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        second = await manager.consolidate()
        second_s = time.perf_counter() - start
        return {
            "facts_before": facts,
            "consolidate_s": first_s,
            "consolidate_again_s": second_s,
            "merged": first["facts_merged"],
            "created": first["facts_created"],
            "second_run_changes": second["facts_created"]
            + second["facts_updated"]
            + second["facts_merged"],
            "facts_after": await manager.semantic.count(),
        }
    finally:
        await manager.aclose()


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Run the ``memory`` group; ``iterations`` search queries per size (and 5x that
    single records, at least 200)."""
    started = time.perf_counter()
    progress("memory: RSS of a bare interpreter and of a ready orchestrator (subprocesses)")
    bare = _rss("bare")
    ready = _rss("orchestrator")
    with tempfile.TemporaryDirectory(prefix="victor-bench-memory-") as tmp:
        root = Path(tmp)
        storage = asyncio.run(_storage(root, iterations, progress, started))
        progress("memory: pruning 10,000 of 20,000 episodes")
        prune = asyncio.run(_prune(root))
        progress("memory: consolidating 2,000 facts")
        consolidation = asyncio.run(_consolidation(root))

    bare_mb = bare.get("bare_mb")
    idle_mb = ready.get("idle_mb")
    active_mb = ready.get("active_mb")
    idle_delta = idle_mb - bare_mb if idle_mb is not None and bare_mb is not None else None
    active_delta = active_mb - bare_mb if active_mb is not None and bare_mb is not None else None
    search_10k = storage["search_10k"]["median_ms"]
    search_100k = (storage["search_100k"] or {}).get("median_ms")
    ratios = _ratios(storage, bare_mb, idle_mb, active_mb)
    return {
        "latency_ms": search_10k,
        "throughput": storage["record_single_per_s"],
        "hit_rate": None,
        "ratios": ratios,
        "details": {
            "measured_process": ready.get("kind", ready.get("error")),
            "rss_bare_mb": bare_mb,
            "rss_idle_mb": idle_mb,
            "rss_active_mb": active_mb,
            "rss_idle_over_bare_mb": idle_delta,
            "rss_active_over_bare_mb": active_delta,
            "rss_errors": ready.get("error") or bare.get("error"),
            "guide_idle_mb": "150-300",
            "guide_active_mb": "300-800",
            **{k: v for k, v in storage.items() if not k.startswith("search_1")},
            "search_10k_median_ms": search_10k,
            "search_10k_p95_ms": storage["search_10k"]["p95_ms"],
            "search_100k_median_ms": search_100k,
            "search_100k_p95_ms": (storage["search_100k"] or {}).get("p95_ms"),
            "search_100k_note": storage.get("search_100k_skipped"),
            **prune,
            **{f"consolidation_{k}": v for k, v in consolidation.items()},
        },
    }


def _ratios(
    storage: dict[str, Any], bare_mb: float | None, idle_mb: float | None, active_mb: float | None
) -> dict[str, float]:
    ratios: dict[str, float] = {
        "record_batched_vs_single": storage["record_batched_per_s"]
        / storage["record_single_per_s"],
    }
    search_100k = (storage["search_100k"] or {}).get("median_ms")
    if search_100k is not None:
        ratios["search_100k_vs_10k"] = search_100k / storage["search_10k"]["median_ms"]
    if idle_mb is not None and bare_mb is not None:
        ratios["idle_rss_vs_bare"] = idle_mb / bare_mb
    if active_mb is not None and bare_mb is not None:
        ratios["active_rss_vs_bare"] = active_mb / bare_mb
    return ratios
