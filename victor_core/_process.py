"""The one probe of this process: resident memory, CPU time, start time, machine load.

Everything in victor-core that reads the process (the memory watchdog, the
metrics' process gauges, the warm-up of lazy families) reads it here, through
a :class:`ProcessProbe`, so that a test can inject a fake one and every reader
agrees on what "memory" means: the *current* resident set size (RSS), never
the peak, which only goes up and would keep a watchdog shedding forever.

On Linux the RSS comes from ``/proc/self/statm`` (one small read, no
dependency). Elsewhere psutil is used when it is installed (imported on first
use, never at start-up); without it the RSS is unknown (``None``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Protocol

__all__ = ["ProcessProbe", "SystemProbe", "probe"]

_STATM = "/proc/self/statm"
_IMPORTED_AT = time.time()


class ProcessProbe(Protocol):
    """What the readers of this process need to know about it."""

    def rss_bytes(self) -> int | None:
        """The current resident memory in bytes (None: cannot be known here)."""

    def cpu_seconds(self) -> float:
        """User plus system CPU time spent by the process."""

    def start_time(self) -> float:
        """When the process started, in seconds since the epoch."""

    def machine_cpu_fraction(self) -> float | None:
        """How busy the machine's CPUs are, 0..1 (None: unknown)."""


class SystemProbe:
    """The real process, read through ``/proc`` on Linux and psutil elsewhere."""

    def __init__(self, *, statm: str = _STATM) -> None:
        self._statm = statm
        self._psutil_process: Any = None
        self._psutil_missing = False
        self._page_size = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _psutil(self) -> Any:
        """The psutil handle of this process, or None when psutil is not installed."""
        if self._psutil_process is None and not self._psutil_missing:
            try:
                import psutil
            except ImportError:
                self._psutil_missing = True
                return None
            self._psutil_process = psutil.Process()
        return self._psutil_process

    def rss_bytes(self) -> int | None:
        """The current RSS in bytes: ``/proc/self/statm`` on Linux, psutil elsewhere."""
        if sys.platform.startswith("linux"):
            try:
                with open(self._statm, "rb") as statm:
                    # "size resident shared text lib data dt", in pages.
                    return int(statm.read().split()[1]) * self._page_size
            except (OSError, ValueError, IndexError):
                pass  # no /proc (a sandbox): try psutil
        process = self._psutil()
        if process is None:
            return None
        try:
            return int(process.memory_info().rss)
        except Exception:  # psutil's errors (access denied, zombie) mean "unknown" here
            return None

    def cpu_seconds(self) -> float:
        """``time.process_time()``: user plus system CPU of this process."""
        return time.process_time()

    def start_time(self) -> float:
        """The process's start (psutil), else when this module was first imported."""
        process = self._psutil()
        if process is not None:
            try:
                return float(process.create_time())
            except Exception:  # psutil's errors: the import time is the best we know
                pass
        return _IMPORTED_AT

    def machine_cpu_fraction(self) -> float | None:
        """psutil's CPU use over 0.1 s, else the 1-minute load average per CPU."""
        process = self._psutil()
        if process is not None:
            import psutil

            return float(psutil.cpu_percent(interval=0.1)) / 100.0
        try:
            return min(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
        except (AttributeError, OSError):  # no load average (Windows)
            return None


#: The probe every reader uses unless it is handed another one.
probe: ProcessProbe = SystemProbe()
