"""MemoryMonitor: throttled sampling, one warning per crossing, shedding, no crashes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from structlog.testing import capture_logs

from victor_core.health._memory_monitor import MemoryMonitor, read_rss_mb
from victor_core.settings import Settings


class Source:
    """A fake RSS reading and a fake clock."""

    def __init__(self) -> None:
        self.rss = 100.0
        self.now = 0.0
        self.reads = 0

    def read(self) -> float:
        self.reads += 1
        return self.rss

    def clock(self) -> float:
        return self.now


@pytest.fixture
def source() -> Source:
    return Source()


@pytest.fixture
def monitor(source: Source) -> MemoryMonitor:
    settings = Settings(memory_limit_mb=1000, memory_warning_threshold=0.8)
    return MemoryMonitor(settings, reader=source.read, clock=source.clock, shed_interval=30)


def test_samples_at_most_once_per_interval(monitor: MemoryMonitor, source: Source) -> None:
    for _ in range(100):
        assert monitor.check() == "ok"
    assert source.reads == 1
    source.now = 0.99
    monitor.check()
    assert source.reads == 1
    source.now = 1.0
    monitor.check()
    assert source.reads == 2
    monitor.check(force=True)
    assert source.reads == 3


def test_crossing_the_threshold_warns_once(monitor: MemoryMonitor, source: Source) -> None:
    with capture_logs() as logs:
        for rss in (700, 800, 850, 900, 790, 810):
            source.rss = rss
            source.now += 1
            monitor.check()
    warnings = [log for log in logs if log["event"] == "memory_warning"]
    assert [w["rss_mb"] for w in warnings] == [800, 810]  # again only after going below
    assert warnings[0]["warning_mb"] == 800
    assert warnings[0]["limit_mb"] == 1000
    assert monitor.state == "warning"
    assert monitor.warnings == 2


def test_reaching_the_limit_sheds_and_logs_what(monitor: MemoryMonitor, source: Source) -> None:
    calls: list[str] = []

    def shrink_caches() -> int:
        calls.append("caches")
        return 120

    def broken() -> int:
        raise RuntimeError("shedder bug")

    monitor.add_shedder("caches", shrink_caches)
    monitor.add_shedder("pools", lambda: {"http": 3})
    monitor.add_shedder("broken", broken)
    source.rss = 1000
    with capture_logs() as logs:
        assert monitor.check() == "limit"
        for step in range(1, 30):  # still above: no second shed within shed_interval
            source.now = step
            monitor.check()
        source.now = 31
        monitor.check()
    assert calls == ["caches", "caches"]
    sheds = [log for log in logs if log["event"] == "memory_shed"]
    assert len(sheds) == 2
    assert sheds[0]["shed"]["caches"] == 120
    assert sheds[0]["shed"]["pools"] == {"http": 3}
    assert "shedder bug" in sheds[0]["shed"]["broken"]
    assert sum(log["event"] == "memory_warning" for log in logs) == 1
    stats = monitor.stats()
    assert stats["sheds"] == 2
    assert stats["state"] == "limit"
    assert stats["last_shed"]["caches"] == 120
    assert stats["shedders"] == ["broken", "caches", "pools"]
    monitor.remove_shedder("broken")
    monitor.remove_shedder("unknown")
    assert monitor.stats()["shedders"] == ["caches", "pools"]


def test_a_failing_reading_never_raises(source: Source) -> None:
    def reader() -> float:
        raise PermissionError("no /proc")

    monitor = MemoryMonitor(Settings(), reader=reader, clock=source.clock)
    with capture_logs() as logs:
        assert monitor.check() == "unknown"
        source.now = 5
        assert monitor.check() == "unknown"
    assert [log["event"] for log in logs] == ["memory_reading_failed"]
    assert monitor.stats()["rss_mb"] is None


def test_shedder_must_be_callable(monitor: MemoryMonitor) -> None:
    with pytest.raises(TypeError, match="shedder 'x' must be callable"):
        monitor.add_shedder("x", 42)  # type: ignore[arg-type]


def test_settings_changes_apply(monitor: MemoryMonitor, source: Source) -> None:
    source.rss = 500
    assert monitor.check() == "ok"
    monitor.settings.memory_limit_mb = 500
    source.now = 2
    assert monitor.check() == "limit"


def test_background_sampling(source: Source) -> None:
    monitor = MemoryMonitor(Settings(), reader=source.read, min_interval=0.001)

    async def main() -> tuple[bool, bool]:
        started = monitor.start()
        again = monitor.start()
        while source.reads < 3:
            await asyncio.sleep(0.001)
        await monitor.stop()
        await monitor.stop()
        return started, again

    assert asyncio.run(main()) == (True, False)


def test_the_real_reading_is_the_process_rss() -> None:
    rss = read_rss_mb()
    assert 1 < rss < 100_000
    monitor = MemoryMonitor(Settings(memory_limit_mb=1_000_000))
    assert monitor.check() == "ok"
    stats: dict[str, Any] = monitor.stats()
    assert stats["rss_mb"] > 1
