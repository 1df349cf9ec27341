"""The ``cache`` benchmark group: TieredCache latency, memory, hit rate and invalidation.

Everything is measured in one run, side by side, on a temporary directory:

* latency of an L1 hit (including building the tool-selection key), an L2
  hit (fresh process view: memory empty, entry on disk), a miss and a set;
* memory held by 1000 L1 entries with 100-character values (tracemalloc),
  both in all (keys and values included) and the cache's own overhead;
* hit rate on a Zipf(s=1) workload (1000 distinct queries, 10,000 requests,
  each query asked in one of several spellings) with and without key
  normalisation, against the ceiling of an unbounded cache;
* glob invalidation over 20,000 keys;
* the same Zipf workload uncached (a stand-in tool selection over 100 tools
  for every request), so the saving is a ratio.
"""

from __future__ import annotations

import fnmatch
import gc
import math
import random
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from victor_core.cache._manager import tool_selection_key
from victor_core.cache._tiered import TieredCache

DEFAULT_ITERATIONS = 1000

_GUIDE_MB_PER_1000 = 0.87  # the guide's figure for 1000 tool-selection entries
_TOPICS = (
    "files", "git", "tests", "docker", "database", "http", "auth", "logs", "search", "deploy",
)  # fmt: skip


def _queries(count: int) -> list[str]:
    verbs = ("find", "read", "list", "check", "fix", "explain", "update", "show")
    return [
        f"{verbs[i % len(verbs)]} the {_TOPICS[i % len(_TOPICS)]} for project {i}"
        for i in range(count)
    ]


def _spellings(query: str) -> list[str]:
    # How people retype the same request: capitals, doubled spaces, trailing blank.
    return [query, query.capitalize(), query.replace(" ", "  ", 1), query.upper() + " "]


def _per_op_us(func: Callable[[], int], rounds: int = 5) -> float:
    """Best of ``rounds`` of (elapsed / operations), in microseconds.

    The best round is the one least disturbed by other work on the machine,
    as :mod:`timeit` recommends for micro-benchmarks.
    """
    samples = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        ops = func()
        samples.append((time.perf_counter() - start) / ops * 1e6)
    return min(samples)


def _select_tools(query: str, tools: list[tuple[str, frozenset[str]]]) -> list[str]:
    """A stand-in for tool selection: rank tools by token overlap with the query."""
    words = frozenset(query.lower().split())
    scored = sorted(
        ((len(words & vocab) / len(words | vocab), name) for name, vocab in tools), reverse=True
    )
    return [name for _, name in scored[:10]]


def _tools() -> list[tuple[str, frozenset[str]]]:
    rng = random.Random(7)
    vocab = [*_TOPICS, "find", "read", "list", "check", "fix", "explain", "update", "show"]
    vocab += [f"word{i}" for i in range(200)]
    return [(f"tool{i}", frozenset(rng.sample(vocab, 12))) for i in range(100)]


def _zipf_requests(distinct: int, requests: int, seed: int = 42) -> list[int]:
    weights = [1.0 / rank for rank in range(1, distinct + 1)]
    return random.Random(seed).choices(range(distinct), weights=weights, k=requests)


def _latencies(root: Path, ops: int, progress: Callable[[str], None]) -> dict[str, float]:
    progress("L1 hit, L2 hit, miss and set latency")
    queries = _queries(1000)
    keys = [tool_selection_key(q) for q in queries]
    value = ["read_file", "list_directory", "search_code"]
    directory = root / "latency"
    cache = TieredCache("bench", directory=directory, max_size=10_000, ttl=3600, normalize=True)
    cache.set_many({key: value for key in keys})

    def l1_hits() -> int:
        get = cache.get
        for i in range(ops):
            get(tool_selection_key(queries[i % 1000]))
        return ops

    def set_ops() -> int:
        count = min(ops, 1000)
        for i in range(count):
            cache.set(f"set:{i}", value)
        return count

    def misses() -> int:
        count = min(ops, 5000)
        for i in range(count):
            cache.get(f"absent:{i}")
        return count

    l1 = _per_op_us(l1_hits)
    set_us = _per_op_us(set_ops)
    miss = _per_op_us(misses)
    cache.close()

    return {
        "l1_hit_us": l1,
        "l2_hit_us": min(_l2_hit_us(directory, keys) for _ in range(5)),
        "miss_us": miss,
        "set_us": set_us,
    }


def _l2_hit_us(directory: Path, keys: list[str]) -> float:
    """Mean lookup (us) from a fresh instance, whose empty L1 sends each first get to disk."""
    fresh = TieredCache("bench", directory=directory, max_size=10_000, ttl=3600, normalize=True)
    try:
        fresh.get("warm-up")
        start = time.perf_counter()
        for key in keys:
            fresh.get(key)
        return (time.perf_counter() - start) / len(keys) * 1e6
    finally:
        fresh.close()


def _memory(progress: Callable[[str], None]) -> dict[str, float]:
    progress("memory of 1000 L1 entries")
    queries = _queries(1000)
    gc.collect()
    tracemalloc.start()
    try:
        cache = TieredCache("memory", directory=None, max_size=1000, ttl=3600)
        before = tracemalloc.get_traced_memory()[0]
        for i, query in enumerate(queries):
            cache.set(tool_selection_key(query), f"{i:04d}" * 25)  # 100 characters
        total = tracemalloc.get_traced_memory()[0] - before
        keys = [tool_selection_key(q) for q in queries]
        values = [f"{i:04d}" * 25 for i in range(1000)]
        other = TieredCache("memory", directory=None, max_size=1000, ttl=3600)
        before = tracemalloc.get_traced_memory()[0]
        for key, value in zip(keys, values, strict=True):
            other.set(key, value)
        overhead = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return {"mb_per_1000_entries": total / 1e6, "overhead_mb_per_1000_entries": overhead / 1e6}


def _zipf(
    root: Path, requests: int, progress: Callable[[str], None]
) -> tuple[dict[str, Any], float, float]:
    progress(f"Zipf(s=1) workload, 1000 distinct queries x {requests} requests")
    distinct = 1000
    queries = _queries(distinct)
    spellings = [_spellings(q) for q in queries]
    ranks = _zipf_requests(distinct, requests)
    rng = random.Random(1)
    asked = [spellings[r][rng.randrange(4)] for r in ranks]
    tools = _tools()
    ceiling = 1 - len(set(ranks)) / requests

    def cached(normalize: bool, name: str) -> tuple[float, float]:
        cache = TieredCache(
            name, directory=root / name, max_size=distinct, ttl=3600, normalize=normalize
        )
        cache.stats()  # open the disk level now: a process opens it once, not per request
        start = time.perf_counter()
        for query in asked:
            key = tool_selection_key(query) if normalize else f"query:{query}"
            selected = cache.get(key)
            if selected is None:
                cache.set(key, _select_tools(query, tools))
        elapsed = time.perf_counter() - start
        hit_rate = cache.stats()["hit_rate"]
        cache.close()
        return hit_rate, elapsed

    normalised, cached_s = cached(True, "zipf-normalised")
    raw, _ = cached(False, "zipf-raw")
    start = time.perf_counter()
    for query in asked:
        _select_tools(query, tools)
    uncached_s = time.perf_counter() - start
    figures = {
        "requests": requests,
        "distinct": distinct,
        "hit_rate_normalised": normalised,
        "hit_rate_raw": raw,
        "hit_rate_ceiling": ceiling,
        "gap_to_ceiling_points": (ceiling - normalised) * 100,
        "cached_ms": cached_s * 1000,
        "uncached_ms": uncached_s * 1000,
    }
    return figures, cached_s, uncached_s


def _invalidation(root: Path, keys: int, progress: Callable[[str], None]) -> dict[str, Any]:
    progress(f"glob invalidation over {keys} keys")
    cache = TieredCache("invalidate", directory=root / "invalidate", max_size=keys, ttl=3600)
    entries = {f"query:{_TOPICS[i % 10]} request {i} topic{i % 100}": ["tool"] for i in range(keys)}
    cache.set_many(entries)

    def timed(pattern: str) -> tuple[float, int]:
        """Best of three invalidations of ``pattern``, refilling what it removed."""
        matching = {k: v for k, v in entries.items() if fnmatch.fnmatchcase(k, pattern)}
        best, removed = math.inf, 0
        for _ in range(3):
            start = time.perf_counter()
            removed = cache.invalidate(pattern)
            best = min(best, (time.perf_counter() - start) * 1000)
            if matching:
                cache.set_many(matching)
        return best, removed

    one_ms, one_removed = timed("* topic7")
    none_ms, _ = timed("*no such key*")
    ten_ms, ten_removed = timed("query:git *")
    regex_ms, regex_removed = timed("query:[gh]i? *")
    cache.close()
    return {
        "keys": keys,
        "ms_1_percent": one_ms,
        "removed_1_percent": one_removed,
        "ms_no_match": none_ms,
        "ms_10_percent": ten_ms,
        "removed_10_percent": ten_removed,
        "ms_character_class_10_percent": regex_ms,
        "removed_character_class": regex_removed,
    }


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Measure the cache group; ``iterations`` scales the latency loops and workloads.

    Returns:
        ``latency_ms`` (L1 hit including key building), ``throughput`` (L1 hits
        per second), ``hit_rate`` (Zipf workload with normalisation), ``ratios``
        and ``details``.
    """
    iterations = max(1, int(iterations))
    ops = max(1000, iterations * 50)
    requests = min(10_000, max(1000, iterations * 10))
    keys = min(20_000, max(2000, iterations * 20))
    root = Path(tempfile.mkdtemp(prefix="victor-bench-cache-"))
    try:
        latency = _latencies(root, ops, progress)
        memory = _memory(progress)
        zipf, cached_s, uncached_s = _zipf(root, requests, progress)
        invalidation = _invalidation(root, keys, progress)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    l1_ms = latency["l1_hit_us"] / 1000
    return {
        "latency_ms": l1_ms,
        "throughput": 1000 / l1_ms if l1_ms else None,
        "hit_rate": zipf["hit_rate_normalised"],
        "ratios": {
            "uncached_over_cached_time": uncached_s / cached_s if cached_s else None,
            "time_saved_fraction": 1 - cached_s / uncached_s if uncached_s else None,
            "l2_hit_over_l1_hit": latency["l2_hit_us"] / latency["l1_hit_us"],
            "memory_over_guide": memory["mb_per_1000_entries"] / _GUIDE_MB_PER_1000,
            "hit_rate_normalised_over_raw": (
                zipf["hit_rate_normalised"] / zipf["hit_rate_raw"] if zipf["hit_rate_raw"] else None
            ),
        },
        "details": {
            **latency,
            **memory,
            "zipf": zipf,
            "invalidation": invalidation,
            "guide_mb_per_1000_entries": _GUIDE_MB_PER_1000,
        },
    }
