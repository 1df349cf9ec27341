"""Health: the process probe, the memory watchdog, monitoring and maintenance."""

from __future__ import annotations

from victor_core.health._maintenance import Maintenance as Maintenance
from victor_core.health._memory_monitor import MemoryMonitor as MemoryMonitor
from victor_core.health._memory_monitor import read_rss_mb as read_rss_mb
from victor_core.health._monitor import REQUESTS as REQUESTS
from victor_core.health._monitor import Monitor as Monitor
from victor_core.health._monitor import MonitoringError as MonitoringError
from victor_core.health._monitor import check_thresholds as check_thresholds
from victor_core.health._monitor import collect_metrics as collect_metrics
from victor_core.health._monitor import process_gauges as process_gauges
from victor_core.health._monitor import process_stats as process_stats
from victor_core.health._pools import ConnectionPool as ConnectionPool
from victor_core.health._pools import ObjectPool as ObjectPool
from victor_core.health._pools import PoolClosedError as PoolClosedError
from victor_core.health._pools import PoolTimeoutError as PoolTimeoutError

__all__ = [
    "REQUESTS",
    "ConnectionPool",
    "Maintenance",
    "MemoryMonitor",
    "Monitor",
    "MonitoringError",
    "ObjectPool",
    "PoolClosedError",
    "PoolTimeoutError",
    "check_thresholds",
    "collect_metrics",
    "process_gauges",
    "process_stats",
    "read_rss_mb",
]
