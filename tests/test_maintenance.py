"""Periodic maintenance: the steps, their isolation, and the task's life cycle."""

from __future__ import annotations

import asyncio
from typing import Any

from structlog.testing import capture_logs

from victor_core.health._maintenance import Maintenance, MaintenanceConfig
from victor_core.memory import MemoryManager
from victor_core.memory._sqlite import SqliteMemoryBackend
from victor_core.settings import Settings

DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _manager(settings: Settings, clock: Clock) -> MemoryManager:
    backend = SqliteMemoryBackend(settings.data_dir / "m.db")
    return MemoryManager(None, settings, clock=clock, backend=backend)


def test_run_once_does_every_step(settings: Settings) -> None:
    clock = Clock()
    conf = settings.evolve(episode_retention_days=7)

    async def main() -> tuple[dict[str, Any], int]:
        manager = _manager(conf, clock)
        try:
            start = clock.now
            for age in (10, 8, 2, 1, 1):
                clock.now = start - age * DAY
                await manager.episodic.record("check the logs", [], "clean")
            clock.now = start
            maintenance = Maintenance(MaintenanceConfig(episode_retention_days=7), memory=manager)
            report = await maintenance.run_once()
            assert maintenance.runs == 1
            assert maintenance.last_report is report
            return report, await manager.semantic.count()
        finally:
            await manager.aclose()

    report, facts = asyncio.run(main())
    assert report["episodes_removed"] == 2
    assert report["consolidation"]["facts_created"] == 1
    assert report["errors"] == {}
    assert facts == 1
    assert "cache_entries_removed" not in report  # the cache manager sweeps its own


def test_a_failing_step_does_not_stop_the_others(settings: Settings) -> None:
    async def broken_consolidation() -> Any:
        raise OSError("memory store is locked")

    async def main() -> dict[str, Any]:
        manager = _manager(settings, Clock())
        try:
            await manager.episodic.record("g", [], "ok")
            manager.consolidate = broken_consolidation  # type: ignore[method-assign]
            maintenance = Maintenance(MaintenanceConfig(), memory=manager)
            with capture_logs() as logs:
                report = await maintenance.run_once()
            assert any(log["event"] == "maintenance_step_failed" for log in logs)
            return report
        finally:
            await manager.aclose()

    report = asyncio.run(main())
    assert report["episodes_removed"] == 0
    assert "memory store is locked" in report["errors"]["consolidation"]
    assert report["consolidation"] is None


def test_nothing_to_do_without_services(settings: Settings) -> None:
    report = asyncio.run(Maintenance(MaintenanceConfig()).run_once())
    assert report["episodes_removed"] is None
    assert report["consolidation"] is None


def test_start_is_opt_in_and_stop_is_clean(settings: Settings) -> None:
    sleeps: list[float] = []

    async def fast_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    async def main() -> tuple[bool, bool, bool, bool]:
        disabled = Maintenance(MaintenanceConfig(), sleep=fast_sleep)
        off = disabled.start()
        conf = MaintenanceConfig(enabled=True, interval=120)
        maintenance = Maintenance(conf, sleep=fast_sleep)
        on = maintenance.start()
        twice = maintenance.start()
        while maintenance.runs < 3:
            await asyncio.sleep(0)
        running = maintenance.running
        await maintenance.stop()
        await maintenance.stop()
        assert not maintenance.running
        return off, on, twice, running

    assert asyncio.run(main()) == (False, True, False, True)
    assert sleeps[:3] == [120.0, 120.0, 120.0]
