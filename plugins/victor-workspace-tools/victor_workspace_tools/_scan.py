"""Reading many files for a tool: limits, skips, a per-file cache and a process pool.

:func:`scan` applies the analysis limits of :class:`Limits` (files, bytes per
file, bytes per run) before reading anything, so an oversized file is skipped
from its size alone and never read; it serves unchanged files from a
persistent per-file cache keyed by path, size and modification time; and it
computes the rest in a process pool when the work is large enough to pay for
starting one.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from victor_core.cache import TieredCache
    from victor_core.settings import Settings

__all__ = ["Limits", "ScanResult", "read_limited", "scan"]

#: Work at least this large (files or bytes) goes to a process pool.
POOL_MIN_FILES = 100
POOL_MIN_BYTES = 1_000_000
#: Files named in the result's ``skipped`` list (the count is always complete).
MAX_LISTED_SKIPS = 50
#: Bumped when what a per-file result holds changes, so old entries are never served.
CACHE_VERSION = 1
_CACHE_MAX_ENTRIES = 200_000

#: A per-file function: ``func(text, options) -> JSON-shaped dict``; it must be a
#: module-level function so that worker processes can import it.
FileFunc = Callable[[str, Any], dict[str, Any]]


@attrs.frozen(kw_only=True)
class Limits:
    """How much one tool call may read, and how.

    Args:
        max_files: most files read; more are skipped and flagged.
        max_file_bytes: a larger file is skipped without being read.
        max_total_bytes: bytes read in all; the files past it are skipped.
        workers: most worker processes (1: no pool).
        cache_dir: directory of the per-file cache (None: no cache).
    """

    max_files: int = 5000
    max_file_bytes: int = 2_000_000
    max_total_bytes: int = 200_000_000
    workers: int = 1
    cache_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Limits:
        """The limits ``settings`` give (``analysis_*``, ``max_parallel_workers``, ``cache_dir``).

        ``overrides`` that are None are ignored.
        """
        values: dict[str, Any] = {
            "max_files": settings.analysis_max_files,
            "max_file_bytes": settings.analysis_max_file_bytes,
            "max_total_bytes": settings.analysis_max_total_bytes,
            "workers": max(1, min(settings.max_parallel_workers, os.cpu_count() or 1)),
            "cache_dir": Path(settings.cache_dir) / "analysis",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def current_limits(**overrides: Any) -> Limits:
    """The limits of the settings in effect for this call.

    Those of the orchestrator running the tool when one is
    (:func:`victor_core.settings.active_settings`), else those of the
    ``VICTOR_*`` environment; ``overrides`` (a tool's own parameters) win.
    """
    from victor_core.settings import Settings, active_settings

    settings = active_settings()
    if settings is None:
        settings = _env_settings(tuple(sorted(_victor_env())))
    if settings is None:
        settings = Settings()
    return Limits.from_settings(settings, **overrides)


def _victor_env() -> Iterator[tuple[str, str]]:
    return ((k, v) for k, v in os.environ.items() if k.startswith("VICTOR_"))


_ENV_CACHE: dict[tuple[tuple[str, str], ...], Settings | None] = {}


def _env_settings(env: tuple[tuple[str, str], ...]) -> Settings | None:
    if env not in _ENV_CACHE:
        from victor_core.exceptions import SettingsError
        from victor_core.settings import Settings

        try:
            _ENV_CACHE[env] = Settings.from_env(dict(env))
        except SettingsError:
            _ENV_CACHE[env] = None  # the command line reports bad settings itself
    return _ENV_CACHE[env]


@attrs.define
class ScanResult:
    """What :func:`scan` found: per-file results, and what it skipped and why."""

    results: list[tuple[str, dict[str, Any]]] = attrs.Factory(list)
    seen: int = 0
    skipped: list[dict[str, Any]] = attrs.Factory(list)
    skipped_count: int = 0
    bytes_read: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    workers: int = 1

    @property
    def truncated(self) -> bool:
        """Whether any file was left out (a limit reached, or unreadable)."""
        return self.skipped_count > 0

    def skip(self, rel: str, reason: str) -> None:
        """Record that ``rel`` was not analysed, and why."""
        self.skipped_count += 1
        if len(self.skipped) < MAX_LISTED_SKIPS:
            self.skipped.append({"file": rel, "reason": reason})

    def report(self) -> dict[str, Any]:
        """The keys every reading tool adds to its result."""
        return {
            "truncated": self.truncated,
            "files_seen": self.seen,
            "files_analysed": len(self.results),
            "skipped": self.skipped,
            "skipped_count": self.skipped_count,
            "bytes_read": self.bytes_read,
            "cache": {"hits": self.cache_hits, "misses": self.cache_misses},
            "workers": self.workers,
        }

    def note(self) -> str:
        """``"; 3 of 8 files analysed (5 skipped: ...)"`` when truncated, else ``""``."""
        if not self.truncated:
            return ""
        reasons: dict[str, int] = {}
        for item in self.skipped:
            key = item["reason"].split(" (", 1)[0]
            reasons[key] = reasons.get(key, 0) + 1
        why = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
        return (
            f"; TRUNCATED: {len(self.results)} of {self.seen} files analysed "
            f"({self.skipped_count} skipped: {why})"
        )


def read_limited(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """At most ``max_bytes`` bytes of ``path`` (one more tells that it is larger).

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as fh:
        return fh.read(max_bytes + 1)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _run_one(func: FileFunc, path: str, options: Any, max_bytes: int) -> dict[str, Any]:
    try:
        data = read_limited(path, max_bytes)
    except OSError as exc:
        return {"__error__": exc.strerror or str(exc)}
    if len(data) > max_bytes:
        return {"__error__": f"too large (more than {max_bytes} bytes)"}
    if b"\0" in data[:8192]:
        return {"__error__": "binary"}
    return func(_decode(data), options)


def _run_batch(
    func: FileFunc, paths: list[str], options: Any, max_bytes: int, profile: bool
) -> tuple[list[dict[str, Any]], Any]:
    """Worker-process entry: the results of ``paths`` (and the worker's profile stats)."""
    if not profile:
        return [_run_one(func, p, options, max_bytes) for p in paths], None
    import cProfile

    profiler = cProfile.Profile()
    results = profiler.runcall(lambda: [_run_one(func, p, options, max_bytes) for p in paths])
    profiler.create_stats()
    return results, profiler.stats  # type: ignore[attr-defined]  # set by create_stats


def _open_cache(limits: Limits) -> TieredCache | None:
    if limits.cache_dir is None:
        return None
    from victor_core.cache import TieredCache

    return TieredCache("analysis", directory=limits.cache_dir, max_size=_CACHE_MAX_ENTRIES)


def scan(
    files: Iterable[tuple[Path, str]],
    func: FileFunc,
    *,
    kind: str,
    options: Any = None,
    limits: Limits,
    problems: Iterable[dict[str, str]] = (),
) -> ScanResult:
    """Compute ``func`` over the text of each file, within ``limits``.

    Args:
        files: ``(absolute path, path relative to the workspace)`` pairs.
        func: the per-file function (module level, so a worker process can import it).
        kind: names the function and its options in cache keys (``"analysis"``).
        options: passed to ``func``; part of the cache key through ``kind``.
        limits: what may be read, how many workers, where the cache is.
        problems: entries the tree walk could not read, reported as skipped.

    Returns:
        The results in the order of ``files`` (skipped files left out).
    """
    out = ScanResult()
    todo: list[tuple[int, str, str, int, int]] = []  # index, abs, rel, size, mtime_ns
    total = 0
    for path, rel in files:
        out.seen += 1
        if out.seen > limits.max_files:
            out.skip(rel, f"over the file limit (analysis_max_files={limits.max_files})")
            continue
        try:
            st = os.stat(path)
        except OSError as exc:
            out.skip(rel, exc.strerror or str(exc))
            continue
        if st.st_size > limits.max_file_bytes:
            out.skip(
                rel,
                f"too large ({st.st_size} bytes; analysis_max_file_bytes={limits.max_file_bytes})",
            )
            continue
        if total + st.st_size > limits.max_total_bytes:
            out.skip(
                rel, f"over the byte limit (analysis_max_total_bytes={limits.max_total_bytes})"
            )
            continue
        total += st.st_size
        todo.append((len(todo), str(path), rel, st.st_size, st.st_mtime_ns))
    for problem in problems:
        out.skip(problem["path"], problem["reason"])

    results: list[dict[str, Any] | None] = [None] * len(todo)
    cache = _open_cache(limits)
    key_prefix = f"v{CACHE_VERSION}|{kind}|"
    missing: list[tuple[int, str, str, int, int]] = []
    try:
        if cache is not None:
            for item in todo:
                entry = cache.get(key_prefix + item[1])
                if (
                    isinstance(entry, dict)
                    and entry.get("size") == item[3]
                    and entry.get("mtime_ns") == item[4]
                ):
                    results[item[0]] = entry["result"]
                    out.cache_hits += 1
                else:
                    missing.append(item)
            out.cache_misses = len(missing)
        else:
            missing = todo
        computed = _compute(func, missing, options, limits, out)
        fresh: dict[str, Any] = {}
        for item, value in zip(missing, computed, strict=True):
            results[item[0]] = value
            if "__error__" not in value:
                fresh[key_prefix + item[1]] = {
                    "size": item[3],
                    "mtime_ns": item[4],
                    "result": value,
                }
        if cache is not None and fresh:
            cache.set_many(fresh)
    finally:
        if cache is not None:
            cache.close()
    for item, value in zip(todo, results, strict=True):
        if value is None or "__error__" in value:
            out.skip(item[2], "not analysed" if value is None else str(value["__error__"]))
            continue
        out.bytes_read += item[3]
        out.results.append((item[2], value))
    return out


def _compute(
    func: FileFunc,
    items: list[tuple[int, str, str, int, int]],
    options: Any,
    limits: Limits,
    out: ScanResult,
) -> list[dict[str, Any]]:
    size = sum(i[3] for i in items)
    workers = min(limits.workers, len(items))
    if workers < 2 or (len(items) <= POOL_MIN_FILES and size <= POOL_MIN_BYTES):
        return [_run_one(func, i[1], options, limits.max_file_bytes) for i in items]
    batches = _batches(items, workers * 4)
    from victor_core.metrics import worker_profiling_enabled

    profiling = worker_profiling_enabled()
    results: list[dict[str, Any]] = [{}] * len(items)
    position = {i[0]: n for n, i in enumerate(items)}
    with _pool(workers) as pool:
        out.workers = workers
        futures = [
            pool.submit(
                _run_batch,
                func,
                [i[1] for i in batch],
                options,
                limits.max_file_bytes,
                profiling,
            )
            for batch in batches
        ]
        for batch, future in zip(batches, futures, strict=True):
            values, stats = future.result()
            if stats is not None:
                from victor_core.metrics import add_worker_stats

                add_worker_stats(stats)
            for item, value in zip(batch, values, strict=True):
                results[position[item[0]]] = value
    return results


def _batches(
    items: list[tuple[int, str, str, int, int]], count: int
) -> list[list[tuple[int, str, str, int, int]]]:
    """``items`` in ``count`` batches of about equal bytes, largest files first."""
    bins: list[list[tuple[int, str, str, int, int]]] = [[] for _ in range(count)]
    loads = [0] * count
    for item in sorted(items, key=lambda i: -i[3]):
        smallest = loads.index(min(loads))
        bins[smallest].append(item)
        loads[smallest] += item[3] + 2048  # a small file still costs a parse
    return [b for b in bins if b]


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[Executor]:
    """A process pool of ``workers``; forked where that is possible, so nothing re-imports.

    Worker processes are the caller's children, so their CPU time shows in the
    caller's ``RUSAGE_CHILDREN`` once the pool is shut down. A worker only
    reads files and parses them; it takes no lock another thread could hold,
    which is what makes forking a process with threads safe here (Python 3.12
    warns about forking such processes in general).
    """
    import multiprocessing  # with the process pool, ~8 ms: imported when a scan needs it
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
