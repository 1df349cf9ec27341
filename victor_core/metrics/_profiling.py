"""Profile a block of code with cProfile, as the user's guide recommends.

::

    from victor_core.metrics._profiling import profile

    with profile("run.pstats"):
        asyncio.run(orchestrator.execute_task(task))

writes ``run.pstats`` (open it with :mod:`pstats`, snakeviz or gprof2dot) and
prints the 20 functions with the highest cumulative time to stderr.
``victor run --profile`` does the same around a whole run.

The work of an agent runs in worker threads (the executor's) and worker
processes (the analysis tools' pool), which a plain :mod:`cProfile` profile
of the calling thread does not see. While a block is profiled, every thread
started in it gets a profiler of its own (on Python 3.12 and later one
profiler sees every thread already), worker processes that call
:func:`worker_profiling_enabled` profile themselves and hand their
statistics to :func:`add_worker_stats`, and the saved statistics merge all
of them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from victor_core.exceptions import InvalidArgumentError

if TYPE_CHECKING:
    import cProfile

__all__ = ["ProfileResult", "add_worker_stats", "profile", "worker_profiling_enabled"]

# One profile at a time per process: the threads' profilers and the workers' statistics.
_lock = threading.Lock()
_session: _Session | None = None


class _Session:
    def __init__(self) -> None:
        self.thread_profilers: list[cProfile.Profile] = []
        self.worker_stats: list[dict[Any, Any]] = []
        self.threads = 0
        self.workers = 0


class _RawStats:
    """Statistics already collected elsewhere, in the shape :class:`pstats.Stats` loads."""

    def __init__(self, stats: dict[Any, Any]) -> None:
        self.stats = stats

    def create_stats(self) -> None:
        """Nothing to collect: :class:`pstats.Stats` calls this before reading ``stats``."""


def worker_profiling_enabled() -> bool:
    """Whether a profile is being taken, so work sent to other processes should profile itself."""
    return _session is not None


def add_worker_stats(stats: dict[Any, Any]) -> None:
    """Merge a worker process's statistics (a ``cProfile.Profile().stats`` dict) into the profile.

    Ignored when no profile is being taken.
    """
    with _lock:
        if _session is not None and isinstance(stats, dict):
            _session.worker_stats.append(stats)
            _session.workers += 1


def _thread_hook(frame: FrameType, event: str, arg: object) -> None:
    """Installed in each new thread by :func:`threading.setprofile`: swap in a real profiler."""
    import cProfile

    sys.setprofile(None)
    with _lock:
        session = _session
        if session is None:
            return
        profiler = cProfile.Profile()
        session.thread_profilers.append(profiler)
        session.threads += 1
    profiler.enable()


class ProfileResult:
    """What :func:`profile` yields: the profiler and, once the block ends, where it wrote."""

    def __init__(self, profiler: cProfile.Profile, path: Path) -> None:
        self.profiler = profiler
        self.path = path
        self.elapsed: float | None = None
        self.threads = 0
        self.workers = 0

    def __repr__(self) -> str:
        return f"<ProfileResult path={str(self.path)!r} elapsed={self.elapsed!r}>"


@contextlib.contextmanager
def profile(
    path: str | os.PathLike[str] | None = None,
    *,
    top: int = 20,
    stream: IO[str] | None = None,
    sort: str = "cumulative",
) -> Iterator[ProfileResult]:
    """Profile the ``with`` block, save the statistics and print the top functions.

    The statistics are written even when the block raises.

    Args:
        path: the ``.pstats`` file to write (default: a new file in the temporary directory).
        top: how many functions to print (0: print nothing).
        stream: where to print (default: stderr, so stdout stays clean for ``--json``).
        sort: the :mod:`pstats` sort key.

    Yields:
        A :class:`ProfileResult`; its ``path`` is the written file.

    Raises:
        InvalidArgumentError: ``top`` is negative or ``sort`` is not a pstats sort key.
    """
    import cProfile

    _check_report_args(top, sort)
    target = _stats_path(path)
    global _session
    profiler = cProfile.Profile()
    result = ProfileResult(profiler, target)
    session = _Session()
    per_thread = sys.version_info < (3, 12)  # from 3.12 one profiler sees every thread
    with _lock:
        _session = session
    if per_thread:
        threading.setprofile(_thread_hook)
    start = time.perf_counter()
    profiler.enable()
    try:
        yield result
    finally:
        profiler.disable()
        result.elapsed = time.perf_counter() - start
        if per_thread:
            threading.setprofile(None)  # type: ignore[arg-type]  # None removes the hook
        with _lock:
            _session = None
        result.threads = session.threads
        result.workers = session.workers
        _report(result, session, stream if stream is not None else sys.stderr, top=top, sort=sort)


def _check_report_args(top: Any, sort: Any) -> None:
    import pstats

    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise InvalidArgumentError(
            f"top must be an int >= 0 (got {top!r})", argument="top", value=top
        )
    valid_sorts = set(pstats.Stats.sort_arg_dict_default)
    if sort not in valid_sorts:
        raise InvalidArgumentError(
            f"sort must be one of {sorted(valid_sorts)} (got {sort!r})", argument="sort", value=sort
        )


def _stats_path(path: str | os.PathLike[str] | None) -> Path:
    """Where the statistics go: ``path`` (its directory made), or a new temporary file."""
    if path is None:
        import tempfile  # with shutil and random, ~4 ms: paid by a profiled run only

        fd, name = tempfile.mkstemp(prefix="victor-", suffix=".pstats")
        os.close(fd)
        return Path(name)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _report(result: ProfileResult, session: _Session, out: IO[str], *, top: int, sort: str) -> None:
    """Join the main, thread and worker statistics, write them, print the ``top`` functions."""
    import pstats

    stats = pstats.Stats(result.profiler, stream=out)
    for other in session.thread_profilers:
        with contextlib.suppress(Exception):  # a thread that ended mid-collection
            stats.add(other)  # type: ignore[arg-type]  # Stats loads a Profile
    for raw in session.worker_stats:
        stats.add(_RawStats(raw))  # type: ignore[arg-type]  # Stats loads create_stats objects
    stats.dump_stats(str(result.path))
    if top:
        print(
            f"profile: {result.elapsed:.3f} s, main thread + {session.threads} threads + "
            f"{session.workers} worker batches, statistics written to {result.path}",
            file=out,
        )
        stats.sort_stats(sort).print_stats(top)
