"""Health: the memory watchdog, the threshold monitor and maintenance.

The process itself is read through one probe, :mod:`victor_core._process`.
Each name is imported from its module on first use: an orchestrator starts
its memory watchdog on every run, and needs neither the threshold monitor
(with the metrics package) nor maintenance unless they are enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from victor_core._lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from victor_core.health._maintenance import Maintenance as Maintenance
    from victor_core.health._maintenance import MaintenanceConfig as MaintenanceConfig
    from victor_core.health._memory_monitor import MemoryMonitor as MemoryMonitor
    from victor_core.health._memory_monitor import WatchdogConfig as WatchdogConfig
    from victor_core.health._memory_monitor import read_rss_mb as read_rss_mb
    from victor_core.health._memory_monitor import release_heap as release_heap
    from victor_core.health._monitor import REQUESTS as REQUESTS
    from victor_core.health._monitor import Monitor as Monitor
    from victor_core.health._monitor import MonitorConfig as MonitorConfig
    from victor_core.health._monitor import MonitoringError as MonitoringError
    from victor_core.health._monitor import check_thresholds as check_thresholds
    from victor_core.health._monitor import collect_metrics as collect_metrics
    from victor_core.health._monitor import process_gauges as process_gauges
    from victor_core.health._monitor import process_stats as process_stats

__all__ = [
    "REQUESTS",
    "Maintenance",
    "MaintenanceConfig",
    "MemoryMonitor",
    "Monitor",
    "MonitorConfig",
    "MonitoringError",
    "WatchdogConfig",
    "check_thresholds",
    "collect_metrics",
    "process_gauges",
    "process_stats",
    "read_rss_mb",
    "release_heap",
]

_LAZY = {
    "Maintenance": "victor_core.health._maintenance",
    "MaintenanceConfig": "victor_core.health._maintenance",
    "MemoryMonitor": "victor_core.health._memory_monitor",
    "WatchdogConfig": "victor_core.health._memory_monitor",
    "read_rss_mb": "victor_core.health._memory_monitor",
    "release_heap": "victor_core.health._memory_monitor",
    "REQUESTS": "victor_core.health._monitor",
    "Monitor": "victor_core.health._monitor",
    "MonitorConfig": "victor_core.health._monitor",
    "MonitoringError": "victor_core.health._monitor",
    "check_thresholds": "victor_core.health._monitor",
    "collect_metrics": "victor_core.health._monitor",
    "process_gauges": "victor_core.health._monitor",
    "process_stats": "victor_core.health._monitor",
}


__getattr__ = _lazy_names(__name__, _LAZY)
