"""The memory watchdog: the process's resident memory against ``memory_limit_mb``.

:class:`MemoryMonitor` is the one place where victor-core judges its own
memory. It reads the resident set size (RSS) through the process probe
(:mod:`victor_core._process`) at most once per ``sample_interval`` seconds,
however often it is asked, so callers may call :meth:`MemoryMonitor.check`
after every operation and pay a clock read; :meth:`MemoryMonitor.start` also
samples in a daemon thread, so memory that grows while one long operation
runs is seen too.

- Crossing ``warning_fraction * limit_mb`` logs one ``memory_warning`` event
  (again only after memory went back below the threshold).
- At ``limit_mb`` and at *every* sample while the RSS stays at or above it,
  the watchdog sheds: it calls each registered *shedder* (a callable that
  drops what it holds and returns what it dropped, for example the number of
  cache entries), then collects garbage and, on glibc, returns freed heap
  pages to the system (``malloc_trim``), reads the RSS again and logs one
  ``memory_shed`` event with what each step did and how much went.

The watchdog never raises: a reading that fails or is unknown is logged once
and the check reports ``"unknown"``; a shedder that fails is logged and the
others still run.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs

from victor_core import _process
from victor_core.exceptions import SettingsError, ShedderError

if TYPE_CHECKING:
    from victor_core._process import ProcessProbe

__all__ = ["MemoryMonitor", "WatchdogConfig", "read_rss_mb", "release_heap"]

_MIB = 1024.0 * 1024.0

#: What a shedder returns: a count, or a mapping or text that says what it dropped.
ShedResult = int | float | str | Mapping[str, object] | None
Shedder = Callable[[], ShedResult]


def read_rss_mb(probe: ProcessProbe | None = None) -> float | None:
    """The current resident memory of this process in MiB (None: unknown here)."""
    rss = (probe if probe is not None else _process.probe).rss_bytes()
    return None if rss is None else rss / _MIB


@attrs.frozen
class WatchdogConfig:
    """What the watchdog watches for; the orchestrator builds it from the settings.

    Attributes:
        limit_mb: ``memory_limit_mb``: at or above it, shed.
        warning_fraction: ``memory_warning_threshold``: warn at this fraction of the limit.
        sample_interval: least seconds between two readings (and the background period).
        release_heap: after the shedders, collect garbage and trim the C heap.
    """

    limit_mb: float
    warning_fraction: float = 0.8
    sample_interval: float = 1.0
    release_heap: bool = True

    def __attrs_post_init__(self) -> None:
        if not self.limit_mb > 0:
            raise SettingsError(
                f"memory limit must be a number of MB > 0 (got {self.limit_mb!r})",
                field="memory_limit_mb",
                value=self.limit_mb,
            )
        if not 0 < self.warning_fraction <= 1:
            raise SettingsError(
                f"memory warning fraction must be in (0, 1] (got {self.warning_fraction!r})",
                field="memory_warning_threshold",
                value=self.warning_fraction,
            )
        if not self.sample_interval > 0:
            raise SettingsError(
                f"memory sample interval must be seconds > 0 (got {self.sample_interval!r})",
                field="sample_interval",
                value=self.sample_interval,
            )

    @property
    def warning_mb(self) -> float:
        """The RSS at which the watchdog warns."""
        return self.warning_fraction * self.limit_mb


class _Libc:
    """glibc's ``malloc_trim``, looked up once (None elsewhere: musl, macOS, Windows)."""

    trim: Callable[[int], int] | None = None
    looked_up = False

    @classmethod
    def malloc_trim(cls) -> Callable[[int], int] | None:
        if not cls.looked_up:
            cls.looked_up = True
            try:
                import ctypes  # ~10 ms with ctypes.util: paid on the first shed only
                import ctypes.util

                name = ctypes.util.find_library("c")
                libc = ctypes.CDLL(name) if name else None
                cls.trim = getattr(libc, "malloc_trim", None)
            except OSError:  # no C library to load: nothing to trim
                cls.trim = None
        return cls.trim


def release_heap() -> dict[str, int | bool]:
    """Collect garbage, then hand freed heap pages back to the system where glibc can.

    Returns:
        ``{"gc_collected": objects found unreachable, "malloc_trim": whether memory
        was returned}`` (``malloc_trim`` is False where there is no glibc).
    """
    collected = gc.collect()
    trim = _Libc.malloc_trim()
    trimmed = bool(trim(0)) if trim is not None else False
    return {"gc_collected": collected, "malloc_trim": trimmed}


class MemoryMonitor:
    """Samples process memory, warns near the limit and sheds while at or over it.

    Args:
        config: the limit, the warning fraction and the sampling interval.
        probe: reads the RSS (default: this process, :data:`victor_core._process.probe`).
        clock: monotonic seconds (throttling).
        logger: where the events go (default: victor-core's structlog logger).
    """

    def __init__(
        self,
        config: WatchdogConfig,
        *,
        probe: ProcessProbe | None = None,
        clock: Callable[[], float] = time.monotonic,
        release: Callable[[], Mapping[str, object]] = release_heap,
    ) -> None:
        self.config = config
        self._probe = probe if probe is not None else _process.probe
        self._clock = clock
        self._release = release
        self._shedders: dict[str, Shedder] = {}
        self._last_sample: float | None = None
        self._warned = False
        self._read_failed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.rss_mb: float | None = None
        self.state = "unknown"
        self.samples = 0
        self.warnings = 0
        self.sheds = 0
        self.last_shed: dict[str, object] | None = None

    @property
    def limit_mb(self) -> float:
        """``memory_limit_mb``."""
        return self.config.limit_mb

    @property
    def warning_mb(self) -> float:
        """``memory_warning_threshold * memory_limit_mb``."""
        return self.config.warning_mb

    def add_shedder(self, name: str, shedder: Shedder) -> None:
        """Register ``shedder`` under ``name`` (replacing one of the same name).

        It is called with no arguments at every sample at or over the limit, and
        returns what it dropped. A bound method is held weakly: shedding never
        keeps its object alive.

        Raises:
            ShedderError: ``shedder`` is not callable.
        """
        if not callable(shedder):
            raise ShedderError(f"shedder {name!r} must be callable (got {shedder!r})", shedder=name)
        if hasattr(shedder, "__self__") and hasattr(shedder, "__func__"):
            shedder = _weak_call(weakref.WeakMethod(shedder))
        self._shedders[name] = shedder

    def remove_shedder(self, name: str) -> None:
        """Unregister a shedder (no error if unknown)."""
        self._shedders.pop(name, None)

    def check(self, *, force: bool = False) -> str:
        """Sample memory if the last sample is older than ``sample_interval``; act on it.

        Args:
            force: sample now whatever the interval.

        Returns:
            ``"ok"``, ``"warning"``, ``"limit"`` or ``"unknown"`` (no reading).
        """
        now = self._clock()
        last = self._last_sample
        if not force and last is not None and now - last < self.config.sample_interval:
            return self.state
        with self._lock:  # the background thread and the callers take turns
            self._last_sample = now
            rss = self._read()
            if rss is None:
                self.state = "unknown"
                return self.state
            self.samples += 1
            self.rss_mb = rss
            self._act(rss)
            return self.state

    def _read(self) -> float | None:
        try:
            rss = read_rss_mb(self._probe)
        except Exception as exc:  # a probe must never break the caller
            rss, error = None, repr(exc)
        else:
            error = "the resident memory of this process cannot be read here"
        if rss is None and not self._read_failed:
            self._read_failed = True
            self._log("memory_reading_failed", error=error)
        return rss

    def _act(self, rss: float) -> None:
        config = self.config
        if rss < config.warning_mb:
            self.state = "ok"
            self._warned = False
            return
        self.state = "limit" if rss >= config.limit_mb else "warning"
        if not self._warned:
            self._warned = True
            self.warnings += 1
            self._log(
                "memory_warning",
                rss_mb=round(rss, 1),
                warning_mb=round(config.warning_mb, 1),
                limit_mb=config.limit_mb,
            )
        if self.state == "limit":
            self._shed(rss)

    def shed(self) -> dict[str, object]:
        """Shed now, whatever the memory; return and log what each step dropped."""
        with self._lock:
            return self._shed(read_rss_mb(self._probe))

    def _shed(self, rss: float | None) -> dict[str, object]:
        results: dict[str, object] = {}
        for name, shedder in list(self._shedders.items()):
            try:
                results[name] = shedder()
            except Exception as exc:
                # One failing shedder must not stop the others (or the caller).
                results[name] = f"failed: {exc!r}"
        if self.config.release_heap:
            try:
                results["heap"] = dict(self._release())
            except Exception as exc:  # same rule for the heap release
                results["heap"] = f"failed: {exc!r}"
        after = read_rss_mb(self._probe)
        if after is not None:
            self.rss_mb = after
        self.sheds += 1
        self.last_shed = results
        self._log(
            "memory_shed",
            rss_mb=None if rss is None else round(rss, 1),
            rss_after_mb=None if after is None else round(after, 1),
            freed_mb=None if rss is None or after is None else round(rss - after, 1),
            limit_mb=self.config.limit_mb,
            shed=results,
        )
        return results

    def _log(self, event: str, **fields: object) -> None:
        try:
            from victor_core._log import get_logger

            get_logger().warning(event, **fields)
        except Exception:  # logging must never take the watchdog down
            pass

    # -- background sampling -----------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the background thread samples."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Sample every ``sample_interval`` seconds in a daemon thread.

        Returns:
            False if it was already running.
        """
        if self.running:
            return False
        self._stop = threading.Event()
        stop, period = self._stop, self.config.sample_interval
        ref = weakref.ref(self)

        def loop() -> None:
            # Holds the monitor weakly: a forgotten orchestrator is not kept alive.
            while not stop.wait(period):
                monitor = ref()
                if monitor is None:
                    return
                monitor.check(force=True)
                del monitor

        self._thread = threading.Thread(target=loop, name="victor-memory-watchdog", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop the background thread and wait for it (idempotent)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def stats(self) -> dict[str, object]:
        """``rss_mb``, ``limit_mb``, ``warning_mb``, ``state``, ``samples``,
        ``warnings``, ``sheds``, ``last_shed``, ``shedders``, ``running``."""
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
            "running": self.running,
        }


def _weak_call(method: weakref.WeakMethod[Shedder]) -> Shedder:
    def call() -> ShedResult:
        bound = method()
        return None if bound is None else bound()

    return call
