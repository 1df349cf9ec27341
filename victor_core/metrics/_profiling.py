"""Profile a block of code with cProfile, as the user's guide recommends.

::

    from victor_core.metrics._profiling import profile

    with profile("run.pstats"):
        asyncio.run(orchestrator.execute_task(task))

writes ``run.pstats`` (open it with :mod:`pstats`, snakeviz or gprof2dot) and
prints the 20 functions with the highest cumulative time to stderr.
``victor run --profile`` does the same around a whole run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import cProfile

__all__ = ["ProfileResult", "profile"]


class ProfileResult:
    """What :func:`profile` yields: the profiler and, once the block ends, where it wrote."""

    def __init__(self, profiler: cProfile.Profile, path: Path) -> None:
        self.profiler = profiler
        self.path = path
        self.elapsed: float | None = None

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
        ValueError: ``top`` is negative or ``sort`` is not a pstats sort key.
    """
    import cProfile
    import pstats

    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError(f"top must be an int >= 0 (got {top!r})")
    valid_sorts = set(pstats.Stats.sort_arg_dict_default)
    if sort not in valid_sorts:
        raise ValueError(f"sort must be one of {sorted(valid_sorts)} (got {sort!r})")
    if path is None:
        fd, name = tempfile.mkstemp(prefix="victor-", suffix=".pstats")
        os.close(fd)
        target = Path(name)
    else:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
    profiler = cProfile.Profile()
    result = ProfileResult(profiler, target)
    start = time.perf_counter()
    profiler.enable()
    try:
        yield result
    finally:
        profiler.disable()
        result.elapsed = time.perf_counter() - start
        profiler.dump_stats(str(target))
        if top:
            out = stream if stream is not None else sys.stderr
            print(f"profile: {result.elapsed:.3f} s, statistics written to {target}", file=out)
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(sort).print_stats(top)
