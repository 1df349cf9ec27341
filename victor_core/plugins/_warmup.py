"""Opt-in background warm-up of lazy families (``lazy_loading_warmup``).

After start-up a daemon thread imports the lazy families one at a time, but
only while the process's memory is under ``lazy_loading_memory_threshold`` MB
and the system's CPU use under ``lazy_loading_cpu_threshold``, so the first
dispatch does not pay the import and a busy machine is left alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from victor_core.plugins._manager import PluginManager

_CHECK_INTERVAL = 0.5


def _readings() -> tuple[float, float]:
    """RSS in MiB and the machine's CPU use (0..1), through the one process probe.

    A figure this system cannot give reads as 0: warm-up is an optimisation,
    and an unknown figure is no reason to hold it back.
    """
    from victor_core import _process

    rss = _process.probe.rss_bytes()
    cpu = _process.probe.machine_cpu_fraction()
    return (0.0 if rss is None else rss / (1024 * 1024)), (0.0 if cpu is None else cpu)


def warm_up(
    manager: PluginManager,
    *,
    readings: Callable[[], tuple[float, float]] = _readings,
    sleep: Callable[[float], None] = time.sleep,
    max_waits: int = 120,
) -> list[str]:
    """Load lazy families while the thresholds allow; return the families loaded.

    Gives up after ``max_waits`` checks that found the process or machine too busy.
    """
    settings = manager.settings
    loaded: list[str] = []
    waits = 0
    for family in list(manager.families):
        while not manager.is_family_loaded(family):
            rss_mb, cpu = readings()
            if (
                rss_mb < settings.lazy_loading_memory_threshold
                and cpu < settings.lazy_loading_cpu_threshold
            ):
                manager.load_family(family)
                loaded.append(family)
                break
            waits += 1
            if waits >= max_waits:
                return loaded
            sleep(_CHECK_INTERVAL)
    return loaded


def start_warmup(manager: PluginManager) -> threading.Thread:
    """Run :func:`warm_up` in a daemon thread and return it."""

    def run() -> None:
        try:
            warm_up(manager)
        except Exception as exc:  # a warm-up failure must never reach the application
            from victor_core._log import get_logger

            get_logger().warning("plugin_warmup_failed", error=f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=run, name="victor-warmup", daemon=True)
    thread.start()
    return thread
