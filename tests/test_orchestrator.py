"""The facade: cheap construction, services on first use, life cycle."""

from __future__ import annotations

import asyncio

import pytest

from victor_core import AgentOrchestrator, PluginManager, Settings
from victor_core.exceptions import SettingsError


def test_construction_builds_no_service(settings: Settings, pm: PluginManager) -> None:
    orchestrator = AgentOrchestrator(settings, plugin_manager=pm)
    assert orchestrator.settings is settings
    assert orchestrator.plugin_manager is pm
    for service in (
        "caches",
        "executor",
        "skills",
        "planning",
        "selector",
        "memory",
        "agent",
        "tools",
    ):
        assert service not in orchestrator.__dict__
    assert not any(pm.is_family_loaded(f) for f in pm.families)


def test_default_settings() -> None:
    orchestrator = AgentOrchestrator(plugin_manager=PluginManager(discover=False))
    assert isinstance(orchestrator.settings, Settings)


def test_settings_must_be_settings() -> None:
    with pytest.raises(SettingsError, match=r"settings must be a victor_core\.Settings"):
        AgentOrchestrator({"max_parallel_workers": 3})  # type: ignore[arg-type]


def test_eager_tool_executor_is_ready_at_start(settings: Settings) -> None:
    settings.lazy_load_tool_executor = False
    pm = PluginManager(settings, discover=False)
    orchestrator = AgentOrchestrator(settings, plugin_manager=pm)
    assert "executor" in orchestrator.__dict__
    assert pm.is_family_loaded("tools")
    assert not pm.is_family_loaded("skills")


def test_aclose_is_idempotent_and_async_with(settings: Settings, pm: PluginManager) -> None:
    async def main() -> AgentOrchestrator:
        async with AgentOrchestrator(settings, plugin_manager=pm) as orchestrator:
            await orchestrator.get_cache_stats()
        await orchestrator.aclose()
        return orchestrator

    orchestrator = asyncio.run(main())
    assert orchestrator._closed


def test_background_tasks_start_when_enabled_and_stop_on_close(
    settings: Settings, pm: PluginManager
) -> None:
    settings.maintenance_enabled = True
    settings.monitoring_enabled = True

    async def main() -> tuple[bool, bool, bool, bool]:
        orchestrator = AgentOrchestrator(settings, plugin_manager=pm)
        async with orchestrator:
            running = (orchestrator.maintenance.running, orchestrator.monitor.running)
        return (*running, orchestrator.maintenance.running, orchestrator.monitor.running)

    assert asyncio.run(main()) == (True, True, False, False)


def test_background_tasks_are_opt_in(settings: Settings, pm: PluginManager) -> None:
    async def main() -> AgentOrchestrator:
        async with AgentOrchestrator(settings, plugin_manager=pm) as orchestrator:
            pass
        return orchestrator

    orchestrator = asyncio.run(main())
    assert "maintenance" not in orchestrator.__dict__
    assert "monitor" not in orchestrator.__dict__


def test_memory_limit_sheds_caches(settings: Settings, pm: PluginManager) -> None:
    from victor_core.health._memory_monitor import MemoryMonitor, WatchdogConfig

    class OverTheLimit:
        def rss_bytes(self) -> int:
            return (settings.memory_limit_mb + 1) * 1024 * 1024

    async def main() -> tuple[int, dict[str, object]]:
        async with AgentOrchestrator(settings, plugin_manager=pm) as orchestrator:
            cache = orchestrator.caches.get("response")
            assert cache is not None
            for i in range(100):
                cache.set(f"k{i}", "v")
            config = WatchdogConfig(limit_mb=settings.memory_limit_mb)
            monitor = MemoryMonitor(config, probe=OverTheLimit(), release=dict)  # type: ignore[arg-type]
            monitor.add_shedder("caches", orchestrator._shed_caches)
            orchestrator.__dict__["memory_monitor"] = monitor
            orchestrator._after_task()
            metrics = await orchestrator.get_metrics()
            return cache.stats()["l1"]["current_size"], metrics

    l1_size, metrics = asyncio.run(main())
    assert l1_size == 50
    assert metrics["memory_monitor"]["sheds"] == 1


def test_hook_metrics_are_opt_in(settings: Settings) -> None:
    from victor_core import Tool, hookimpl

    class Tools:
        @hookimpl
        def victor_tools(self) -> list[Tool]:
            return []

    async def main(**changes: object) -> dict[str, object]:
        s = settings.evolve(**changes)
        pm = PluginManager(s, discover=False)
        pm.register(Tools())
        async with AgentOrchestrator(s, plugin_manager=pm) as orchestrator:
            pm.hook.victor_tools()
            return (await orchestrator.get_metrics())["hooks"]

    assert asyncio.run(main()) == {}
    hooks = asyncio.run(main(hook_metrics_enabled=True))
    assert hooks["victor_tools"]["calls"] == 1
