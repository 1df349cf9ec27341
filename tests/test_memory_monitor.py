"""The memory watchdog: throttled sampling, one warning per crossing, shedding, no crashes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

from victor_core import _process
from victor_core.exceptions import SettingsError, ShedderError, VictorError
from victor_core.health._memory_monitor import (
    MemoryMonitor,
    WatchdogConfig,
    read_rss_mb,
    release_heap,
)

MIB = 1024 * 1024


class Source:
    """A fake process probe (RSS in MiB, settable) and a fake clock."""

    def __init__(self) -> None:
        self.rss: float | None = 100.0
        self.now = 0.0
        self.reads = 0

    def rss_bytes(self) -> int | None:
        self.reads += 1
        return None if self.rss is None else int(self.rss * MIB)

    def cpu_seconds(self) -> float:
        return 0.0

    def start_time(self) -> float:
        return 0.0

    def machine_cpu_fraction(self) -> float | None:
        return None

    def clock(self) -> float:
        return self.now


def no_release() -> dict[str, object]:
    return {"released": True}


@pytest.fixture
def source() -> Source:
    return Source()


@pytest.fixture
def monitor(source: Source) -> MemoryMonitor:
    config = WatchdogConfig(limit_mb=1000, warning_fraction=0.8)
    return MemoryMonitor(config, probe=source, clock=source.clock, release=no_release)


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
    assert all(log["event"] != "memory_near_limit" for log in logs)  # one event, one name


def test_sheds_at_every_sample_while_over_the_limit(monitor: MemoryMonitor, source: Source) -> None:
    calls: list[str] = []

    def shrink_caches() -> int:
        calls.append("caches")
        return 120

    def broken() -> int:
        raise RuntimeError("shedder bug")

    monitor.add_shedder("caches", shrink_caches)
    monitor.add_shedder("queues", lambda: {"http": 3})
    monitor.add_shedder("broken", broken)
    source.rss = 1000
    with capture_logs() as logs:
        assert monitor.check() == "limit"
        for step in range(1, 5):  # still over: shed again at every sample
            source.now = step
            monitor.check()
        source.now = 4.5  # within the sample interval: no reading, no shed
        monitor.check()
        source.rss = 500
        source.now = 6
        assert monitor.check() == "ok"
    assert calls == ["caches"] * 5
    sheds = [log for log in logs if log["event"] == "memory_shed"]
    assert len(sheds) == 5
    assert sheds[0]["shed"]["caches"] == 120
    assert sheds[0]["shed"]["queues"] == {"http": 3}
    assert sheds[0]["shed"]["heap"] == {"released": True}
    assert "shedder bug" in sheds[0]["shed"]["broken"]
    assert sum(log["event"] == "memory_warning" for log in logs) == 1
    stats = monitor.stats()
    assert stats["sheds"] == 5
    assert stats["state"] == "ok"
    assert stats["last_shed"]["caches"] == 120
    assert stats["shedders"] == ["broken", "caches", "queues"]
    monitor.remove_shedder("broken")
    monitor.remove_shedder("unknown")
    assert monitor.stats()["shedders"] == ["caches", "queues"]


def test_a_shed_reports_what_it_freed(monitor: MemoryMonitor, source: Source) -> None:
    held = [b"x"] * 10

    def drop() -> int:
        count = len(held)
        held.clear()
        source.rss = 700  # what the probe sees once the memory went
        return count

    monitor.add_shedder("held", drop)
    source.rss = 1200
    with capture_logs() as logs:
        assert monitor.check() == "limit"
    (shed,) = [log for log in logs if log["event"] == "memory_shed"]
    assert shed["rss_mb"] == 1200
    assert shed["rss_after_mb"] == 700
    assert shed["freed_mb"] == 500
    assert monitor.rss_mb == 700


def test_the_heap_release_runs_after_the_shedders(source: Source) -> None:
    order: list[str] = []

    def release() -> dict[str, object]:
        order.append("heap")
        return {}

    monitor = MemoryMonitor(
        WatchdogConfig(limit_mb=100), probe=source, clock=source.clock, release=release
    )
    monitor.add_shedder("caches", lambda: order.append("caches") or 0)
    monitor.check()
    assert order == ["caches", "heap"]
    quiet = MemoryMonitor(
        WatchdogConfig(limit_mb=100, release_heap=False),
        probe=source,
        clock=source.clock,
        release=release,
    )
    assert quiet.shed() == {}
    assert order == ["caches", "heap"]


def test_release_heap_collects_garbage() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    for _ in range(10):
        Cycle()
    result = release_heap()
    assert result["gc_collected"] >= 10
    assert isinstance(result["malloc_trim"], bool)


def test_a_failing_or_unknown_reading_never_raises(source: Source) -> None:
    class Broken(Source):
        def rss_bytes(self) -> int | None:
            raise PermissionError("no /proc")

    broken = Broken()
    monitor = MemoryMonitor(WatchdogConfig(limit_mb=100), probe=broken, clock=broken.clock)
    with capture_logs() as logs:
        assert monitor.check() == "unknown"
        broken.now = 5
        assert monitor.check() == "unknown"
    assert [log["event"] for log in logs] == ["memory_reading_failed"]
    assert "no /proc" in logs[0]["error"]
    assert monitor.stats()["rss_mb"] is None
    source.rss = None
    unknown = MemoryMonitor(WatchdogConfig(limit_mb=100), probe=source, clock=source.clock)
    with capture_logs() as logs:
        assert unknown.check() == "unknown"
    assert "cannot be read" in logs[0]["error"]


def test_shedder_must_be_callable(monitor: MemoryMonitor) -> None:
    with pytest.raises(ShedderError, match="shedder 'x' must be callable") as info:
        monitor.add_shedder("x", 42)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError) and isinstance(info.value, VictorError)
    assert info.value.shedder == "x"


def test_a_bound_shedder_does_not_keep_its_object_alive(monitor: MemoryMonitor) -> None:
    class Holder:
        def shed(self) -> int:
            return 7

    holder = Holder()
    monitor.add_shedder("holder", holder.shed)
    assert monitor.shed()["holder"] == 7
    del holder
    assert monitor.shed()["holder"] is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit_mb": 0}, "memory_limit_mb"),
        ({"limit_mb": 100, "warning_fraction": 0}, "memory_warning_threshold"),
        ({"limit_mb": 100, "warning_fraction": 1.5}, "memory_warning_threshold"),
        ({"limit_mb": 100, "sample_interval": 0}, "sample_interval"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError, match="got") as info:
        WatchdogConfig(**kwargs)
    assert info.value.field == field


def test_background_sampling_sheds_while_over(source: Source) -> None:
    source.rss = 5000
    shed = threading.Event()
    counts: list[int] = []

    def shedder() -> int:
        counts.append(1)
        if len(counts) >= 3:
            shed.set()
        return 0

    monitor = MemoryMonitor(
        WatchdogConfig(limit_mb=100, sample_interval=0.001), probe=source, release=no_release
    )
    monitor.add_shedder("count", shedder)
    assert monitor.start() is True
    assert monitor.start() is False
    assert monitor.running
    assert shed.wait(10)
    monitor.stop()
    monitor.stop()
    assert not monitor.running
    assert monitor.sheds >= 3


def test_the_real_reading_is_the_current_rss() -> None:
    rss = read_rss_mb()
    assert rss is not None and 1 < rss < 100_000
    monitor = MemoryMonitor(WatchdogConfig(limit_mb=1_000_000))
    assert monitor.check() == "ok"
    stats: dict[str, Any] = monitor.stats()
    assert stats["rss_mb"] > 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_the_probe_reads_statm_not_the_peak(tmp_path: Any) -> None:
    statm = tmp_path / "statm"
    statm.write_text("1000 250 10 1 0 100 0\n")
    probe = _process.SystemProbe(statm=str(statm))
    import os

    assert probe.rss_bytes() == 250 * os.sysconf("SC_PAGE_SIZE")


_ALLOCATE = textwrap.dedent(
    """
    import json
    from victor_core.health import MemoryMonitor, WatchdogConfig, read_rss_mb

    base = read_rss_mb()
    held = [b"\x01" * (1024 * 1024) for _ in range(300)]  # 300 MiB, touched
    grown = read_rss_mb()

    def drop():
        count = len(held)
        held.clear()
        return count

    monitor = MemoryMonitor(WatchdogConfig(limit_mb=base + 150))
    monitor.add_shedder("held", drop)
    state = monitor.check(force=True)
    print(json.dumps({"base": base, "grown": grown, "state": state,
                      "after": read_rss_mb(), "shed": monitor.last_shed["held"]}))
    """
)


def test_a_real_allocation_is_shed_in_a_subprocess() -> None:
    import json

    proc = subprocess.run(
        [sys.executable, "-c", _ALLOCATE], check=False, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])  # after the watchdog's log lines
    assert result["grown"] > result["base"] + 250
    assert result["state"] == "limit"
    assert result["shed"] == 300
    assert result["after"] < result["base"] + 150  # under the limit again
