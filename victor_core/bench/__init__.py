"""Benchmarks behind ``victor bench``: every number in docs/performance.md comes from here.

Each group is a module ``victor_core.bench._<group>`` with a function
``run(iterations, progress) -> dict`` returning at least ``latency_ms`` (the
headline per-operation latency), ``throughput`` (operations per second),
``hit_rate`` (None where it does not apply), ``ratios`` (comparisons measured
in the same run) and ``details``. The guide's example works as written::

    from victor_core.bench import run_benchmark

    results = run_benchmark(group="tool_selection", iterations=100)
    print(f"Latency: {results['latency_ms']}ms")
    print(f"Throughput: {results['throughput']} ops/sec")

Numbers are measured, never written down: run ``victor bench --json`` to get
yours, with the machine they were measured on.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from victor_core.exceptions import BenchmarkError

__all__ = [
    "DEFAULT_GROUPS",
    "GROUPS",
    "machine_info",
    "run_benchmark",
    "run_benchmarks",
]

#: Group name -> module implementing it, in the order ``victor bench`` runs them.
GROUPS: dict[str, str] = {
    "startup": "victor_core.bench._startup",
    "dispatch": "victor_core.bench._dispatch",
    "cache": "victor_core.bench._cache",
    "tool_selection": "victor_core.bench._tool_selection",
    "parallel": "victor_core.bench._parallel",
    "memory": "victor_core.bench._memory",
    "agent": "victor_core.bench._agent",
    "streaming": "victor_core.bench._streaming",
    "agent_loop": "victor_core.bench._agent_loop",
    "distributed": "victor_core.bench._distributed",
    "analysis": "victor_core.bench._analysis",
}
#: What ``victor bench`` runs without arguments: every group.
DEFAULT_GROUPS: tuple[str, ...] = tuple(GROUPS)

_REQUIRED = ("latency_ms", "throughput", "hit_rate")
_MAX_ITERATIONS = 10_000_000


def _silent(message: str) -> None:
    return None


def _check_group(group: object) -> str:
    if not isinstance(group, str) or group not in GROUPS:
        raise BenchmarkError(
            f"unknown benchmark group {group!r}; accepted groups: {', '.join(GROUPS)}",
            group=group if isinstance(group, str) else None,
        )
    return group


def _check_iterations(iterations: object) -> int | None:
    if iterations is None:
        return None
    if (
        isinstance(iterations, bool)
        or not isinstance(iterations, int)
        or not 1 <= iterations <= _MAX_ITERATIONS
    ):
        raise BenchmarkError(
            f"iterations must be an int between 1 and {_MAX_ITERATIONS} (got {iterations!r})"
        )
    return iterations


def _load(group: str) -> Any:
    module_name = GROUPS[group]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise BenchmarkError(
            f"benchmark group {group!r} is not available in this installation "
            f"(no module {module_name})",
            group=group,
        ) from None


def available(group: str) -> bool:
    """Whether the module of ``group`` is installed (unknown groups are not)."""
    if group not in GROUPS:
        return False
    import importlib.util
    import sys

    if GROUPS[group] in sys.modules:
        return True
    try:
        return importlib.util.find_spec(GROUPS[group]) is not None
    except (ImportError, ValueError):
        return False


def run_benchmark(
    group: str,
    iterations: int | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run one benchmark group and return its figures.

    Args:
        group: one of :data:`GROUPS`.
        iterations: how much work to measure (rounds or operations, see each
            group); None uses the group's default.
        progress: called with a short message as the run advances.

    Returns:
        ``group``, ``iterations``, ``latency_ms``, ``throughput``, ``hit_rate``
        (None where it does not apply), ``ratios``, ``details`` and ``elapsed_s``.

    Raises:
        BenchmarkError: unknown group, its module is not installed, bad
            ``iterations``, or the group returned figures without the required keys.
    """
    group = _check_group(group)
    count = _check_iterations(iterations)
    module = _load(group)
    if count is None:
        count = int(getattr(module, "DEFAULT_ITERATIONS", 100))
    report = progress if progress is not None else _silent
    start = time.perf_counter()
    raw = module.run(count, report)
    elapsed = time.perf_counter() - start
    return _normalise(group, count, raw, elapsed)


def _normalise(group: str, iterations: int, raw: Any, elapsed: float) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BenchmarkError(
            f"benchmark group {group!r} returned {type(raw).__name__}, not a dict", group=group
        )
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise BenchmarkError(
            f"benchmark group {group!r} returned no {', '.join(missing)}", group=group
        )
    result: dict[str, Any] = {
        "group": group,
        "iterations": iterations,
        "latency_ms": _number(raw["latency_ms"]),
        "throughput": _number(raw["throughput"]),
        "hit_rate": None if raw["hit_rate"] is None else _number(raw["hit_rate"]),
        "ratios": {str(k): _number(v) for k, v in dict(raw.get("ratios") or {}).items()},
        "details": dict(raw.get("details") or {}),
        "elapsed_s": elapsed,
    }
    for key, value in raw.items():
        result.setdefault(key, value)
    return result


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def run_benchmarks(
    groups: Iterable[str] | None = None,
    iterations: int | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run several groups; the document ``victor bench --json`` prints.

    A group whose module is not installed is skipped with a note, and a group
    that fails is reported with its error, so one group never hides the others.

    Args:
        groups: group names (default: all of :data:`GROUPS`).
        iterations: passed to each group (None: each group's default).
        progress: called with short messages as the run advances.

    Returns:
        ``{"machine": machine_info(), "groups": {name: result}, "skipped": {name: note},
        "errors": {name: message}, "elapsed_s": seconds}``.

    Raises:
        BenchmarkError: an unknown group name or bad ``iterations`` (before anything runs).
    """
    names = list(DEFAULT_GROUPS if groups is None else groups)
    for name in names:
        _check_group(name)
    _check_iterations(iterations)
    report = progress if progress is not None else _silent
    document: dict[str, Any] = {
        "machine": machine_info(),
        "iterations": iterations,
        "groups": {},
        "skipped": {},
        "errors": {},
    }
    start = time.perf_counter()
    for name in dict.fromkeys(names):
        _run_into(document, name, iterations, report)
    document["elapsed_s"] = time.perf_counter() - start
    return document


def _run_into(
    document: dict[str, Any], name: str, iterations: int | None, report: Callable[[str], None]
) -> None:
    """Run group ``name`` into ``document``: its result, a skip note or its error."""
    if not available(name):
        document["skipped"][name] = f"not available in this installation ({GROUPS[name]})"
        report(f"{name}: skipped (not available)")
        return
    report(f"{name}: running")
    try:
        result = run_benchmark(name, iterations, progress=_prefixed(report, name))
    except Exception as exc:  # one broken group must not hide the others' figures
        document["errors"][name] = f"{type(exc).__name__}: {exc}"
        report(f"{name}: failed: {exc}")
        return
    document["groups"][name] = result
    report(f"{name}: done in {result['elapsed_s']:.1f} s")


def _prefixed(report: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    def progress(message: str) -> None:
        report(f"{prefix}: {message}")

    return progress


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured: interpreter, platform, CPUs and library versions."""
    import os
    import platform
    import sys
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for dist in ("victor-core", "pluggy", "attrs", "diskcache", "structlog", "psutil"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "versions": versions,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
