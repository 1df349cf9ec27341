"""Watch the process's resident memory against ``memory_limit_mb``.

:class:`MemoryMonitor` reads the resident set size (RSS) at most once per
``min_interval`` seconds (one second by default), however often it is asked:
callers may call :meth:`MemoryMonitor.check` on every operation and pay a
clock read. Crossing ``memory_warning_threshold * memory_limit_mb`` logs one
``memory_warning`` event (again only after memory went back below the
threshold). Reaching ``memory_limit_mb`` calls every registered *shedder*
(a callable returning what it freed, for example the number of cache entries
dropped) and logs one ``memory_shed`` event with their results; while memory
stays above the limit, shedding repeats at most once per ``shed_interval``.

The monitor never raises: a reading that fails (psutil missing, no
permission) is logged once and the check reports ``"unknown"``; a shedder
that fails is logged and the others still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from victor_core._tasks import cancel_task

if TYPE_CHECKING:
    from victor_core.settings import Settings

__all__ = ["MemoryMonitor", "read_rss_mb"]

_MIB = 1024.0 * 1024.0
_process: Any = None


def read_rss_mb() -> float:
    """The resident memory of this process in MiB (psutil, imported on first call).

    Raises whatever psutil raises: unlike the metrics' process gauge, the
    monitor must not fall back to the *peak* RSS, which never goes down and
    would keep it shedding.
    """
    global _process
    if _process is None:
        import psutil

        _process = psutil.Process()
    return float(_process.memory_info().rss) / _MIB


class MemoryMonitor:
    """Samples process memory, warns near the limit and sheds at it.

    Args:
        settings: ``memory_limit_mb`` and ``memory_warning_threshold`` (read at
            every sample, so changes apply).
        reader: returns the current RSS in MiB (default :func:`read_rss_mb`).
        clock: monotonic seconds (throttling).
        min_interval: least seconds between two readings.
        shed_interval: least seconds between two sheddings while above the limit.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        reader: Callable[[], float] = read_rss_mb,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 1.0,
        shed_interval: float = 30.0,
    ) -> None:
        self.settings = settings
        self._reader = reader
        self._clock = clock
        self.min_interval = float(min_interval)
        self.shed_interval = float(shed_interval)
        self._shedders: dict[str, Callable[[], Any]] = {}
        self._last_sample: float | None = None
        self._last_shed: float | None = None
        self._warned = False
        self._read_failed = False
        self._task: Any = None
        self.rss_mb: float | None = None
        self.state = "unknown"
        self.samples = 0
        self.warnings = 0
        self.sheds = 0
        self.last_shed: dict[str, Any] | None = None

    def add_shedder(self, name: str, shedder: Callable[[], Any]) -> None:
        """Register ``shedder`` under ``name`` (replacing one of the same name).

        It is called with no arguments when memory reaches the limit and
        returns what it freed (a count, a dict, anything loggable).
        """
        if not callable(shedder):
            raise TypeError(f"shedder {name!r} must be callable (got {shedder!r})")
        self._shedders[name] = shedder

    def remove_shedder(self, name: str) -> None:
        """Unregister a shedder (no error if unknown)."""
        self._shedders.pop(name, None)

    @property
    def limit_mb(self) -> float:
        """``memory_limit_mb``."""
        return float(self.settings.memory_limit_mb)

    @property
    def warning_mb(self) -> float:
        """``memory_warning_threshold * memory_limit_mb``."""
        return float(self.settings.memory_warning_threshold) * self.limit_mb

    def check(self, *, force: bool = False) -> str:
        """Sample memory if the last sample is older than ``min_interval``; act on it.

        Args:
            force: sample now whatever the interval.

        Returns:
            ``"ok"``, ``"warning"``, ``"limit"`` or ``"unknown"`` (no reading).
        """
        now = self._clock()
        if (
            not force
            and self._last_sample is not None
            and now - self._last_sample < self.min_interval
        ):
            return self.state
        self._last_sample = now
        try:
            rss = float(self._reader())
        except Exception as exc:
            if not self._read_failed:
                self._read_failed = True
                self._log("memory_reading_failed", error=repr(exc))
            self.state = "unknown"
            return self.state
        self.samples += 1
        self.rss_mb = rss
        self._act(rss, now)
        return self.state

    def _act(self, rss: float, now: float) -> None:
        limit, warning = self.limit_mb, self.warning_mb
        if rss >= limit:
            self.state = "limit"
            if self._last_shed is None or now - self._last_shed >= self.shed_interval:
                self._last_shed = now
                self.shed(rss)
        elif rss >= warning:
            self.state = "warning"
            self._last_shed = None
        else:
            self.state = "ok"
            self._warned = False
            self._last_shed = None
            return
        if not self._warned:
            self._warned = True
            self.warnings += 1
            self._log(
                "memory_warning",
                rss_mb=round(rss, 1),
                warning_mb=round(warning, 1),
                limit_mb=limit,
            )

    def shed(self, rss: float | None = None) -> dict[str, Any]:
        """Call every shedder now; return and log ``{name: what it shed}``."""
        results: dict[str, Any] = {}
        for name, shedder in list(self._shedders.items()):
            try:
                results[name] = shedder()
            except Exception as exc:
                # One failing shedder must not stop the others (or the caller).
                results[name] = f"failed: {exc!r}"
        self.sheds += 1
        self.last_shed = results
        self._log(
            "memory_shed",
            rss_mb=None if rss is None else round(rss, 1),
            limit_mb=self.limit_mb,
            shed=results,
        )
        return results

    def _log(self, event: str, **fields: Any) -> None:
        try:
            from victor_core._log import get_logger

            get_logger().warning(event, **fields)
        except Exception:
            pass

    # -- background sampling -----------------------------------------------------------

    def start(self, interval: float | None = None) -> bool:
        """Sample in a background asyncio task every ``interval`` seconds (default
        ``min_interval``); call from a running event loop. Returns False if running."""
        import asyncio

        if self._task is not None and not self._task.done():
            return False
        period = self.min_interval if interval is None else float(interval)
        self._task = asyncio.get_running_loop().create_task(self._loop(period))
        return True

    async def _loop(self, period: float) -> None:
        import asyncio

        while True:
            self.check(force=True)
            await asyncio.sleep(period)

    async def stop(self) -> None:
        """Stop the background task (idempotent)."""
        task, self._task = self._task, None
        await cancel_task(task)

    def stats(self) -> dict[str, Any]:
        """``rss_mb``, ``limit_mb``, ``warning_mb``, ``state``, ``samples``,
        ``warnings``, ``sheds``, ``last_shed``, ``shedders`` (for metrics)."""
        return {
            "rss_mb": self.rss_mb,
            "limit_mb": self.limit_mb,
            "warning_mb": self.warning_mb,
            "state": self.state,
            "samples": self.samples,
            "warnings": self.warnings,
            "sheds": self.sheds,
            "last_shed": self.last_shed,
            "shedders": sorted(self._shedders),
        }
