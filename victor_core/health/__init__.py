"""Health: the memory watchdog, the threshold monitor and maintenance.

The process itself is read through one probe, :mod:`victor_core._process`.
"""

from __future__ import annotations

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
