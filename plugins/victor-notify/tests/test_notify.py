"""victor-notify: a family defined through ``victor_core.hookspecs``, loaded lazily.

These tests run with victor-notify installed (``pip install -e
plugins/victor-notify``), as the test environments do.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import victor_notify
from victor_notify import anotify, channels, notify

from victor_core import AgentOrchestrator, PluginManager, Settings, hookimpl
from victor_core.exceptions import PluginValidationError


class Collector:
    """An inline channel: remembers what it was sent."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def victor_notify_channels(self) -> list[str]:
        return ["collector"]

    @hookimpl
    def victor_notify(self, event: str, payload: dict[str, Any], settings: Settings) -> str:
        self.events.append((event, dict(payload)))
        return "collector"


class AsyncChannel:
    @hookimpl
    async def victor_notify(self, event: str, payload: dict[str, Any]) -> str:
        await asyncio.sleep(0)
        return f"async:{event}"


def _manager(tmp_path: Path, **overrides: Any) -> PluginManager:
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", **overrides)
    return PluginManager(settings)


def test_the_family_comes_from_the_hookspecs_entry_point(tmp_path: Path) -> None:
    pm = _manager(tmp_path)
    assert pm.hook.victor_notify.spec is not None
    assert pm.family_of("victor_notify") == "notify"
    assert pm.family_of("victor_notify_channels") == "notify"
    assert "notify" in pm.families


def test_an_inline_channel_receives_events(tmp_path: Path) -> None:
    pm = _manager(tmp_path)
    collector = Collector()
    pm.register(collector, name="collector")
    results = notify(pm, "deploy_done", {"service": "api"})
    assert "collector" in results
    assert collector.events == [("deploy_done", {"service": "api"})]
    assert "collector" in channels(pm)


def test_anotify_awaits_async_channels(tmp_path: Path) -> None:
    pm = _manager(tmp_path)
    pm.register(AsyncChannel(), name="async")
    results = asyncio.run(anotify(pm, "ping", {}))
    assert "async:ping" in results


@pytest.mark.parametrize("event", ["", "Deploy", "two words", "9lives", None])
def test_bad_event_names_are_refused(tmp_path: Path, event: Any) -> None:
    pm = _manager(tmp_path)
    with pytest.raises(ValueError, match="snake_case") as info:
        notify(pm, event, {})
    assert repr(event) in str(info.value)


def test_payload_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="payload must be a mapping"):
        notify(_manager(tmp_path), "ping", ["not", "a", "dict"])  # type: ignore[arg-type]


def test_a_misspelt_hook_is_rejected_with_a_hint(tmp_path: Path) -> None:
    class Typo:
        @hookimpl
        def victor_notfy(self, event: str) -> None: ...

    with pytest.raises(PluginValidationError, match="victor_notify"):
        _manager(tmp_path).register(Typo(), name="typo")


def test_stored_episodes_become_notifications(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
    collector = Collector()

    async def scenario() -> None:
        async with AgentOrchestrator(settings) as orchestrator:
            orchestrator.plugin_manager.register(collector, name="collector")
            await orchestrator.episodic_memory.record("fix the bug", ["run_tests"], "fixed")

    asyncio.run(scenario())
    assert [e for e, _ in collector.events] == ["episode_stored"]
    payload = collector.events[0][1]
    assert payload["goal"] == "fix the bug"
    assert payload["outcome"] == "fixed"
    assert payload["actions"] == ["run_tests"]


def test_each_orchestrator_notifies_its_own_channels(tmp_path: Path) -> None:
    first, second = Collector(), Collector()

    async def scenario() -> None:
        a = AgentOrchestrator(Settings(cache_dir=tmp_path / "a", data_dir=tmp_path / "a"))
        b = AgentOrchestrator(Settings(cache_dir=tmp_path / "b", data_dir=tmp_path / "b"))
        async with a, b:
            a.plugin_manager.register(first, name="collector")
            b.plugin_manager.register(second, name="collector")
            await a.episodic_memory.record("one", [], "ok")
            await b.episodic_memory.record("two", [], "ok")
            await b.episodic_memory.record("three", [], "ok")

    asyncio.run(scenario())
    assert [p["goal"] for _, p in first.events] == ["one"]
    assert [p["goal"] for _, p in second.events] == ["two", "three"]


def test_a_failing_channel_never_fails_recording(tmp_path: Path) -> None:
    class Broken:
        @hookimpl
        def victor_notify(self, event: str) -> None:
            raise RuntimeError("channel down")

    async def scenario() -> int:
        settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
        async with AgentOrchestrator(settings) as orchestrator:
            orchestrator.plugin_manager.register(Broken(), name="broken")
            episode = await orchestrator.episodic_memory.record("goal", [], "ok")
            assert episode is not None
            return await orchestrator.episodic_memory.count()

    assert asyncio.run(scenario()) == 1


def test_disabling_notify_turns_the_family_off(tmp_path: Path) -> None:
    pm = _manager(tmp_path, disabled_plugins=["notify"])
    with pytest.raises(AttributeError):
        pm.hook.victor_notify  # noqa: B018


_LAZY = textwrap.dedent(
    """
    import asyncio, json, sys
    from victor_core import AgentOrchestrator, Settings

    def loaded():
        return sorted(m for m in ("victor_notify", "victor_notify.plugin",
                                  "victor_notify.hookspecs", "victor_notify_log.plugin")
                      if m in sys.modules)

    steps = {}
    settings = Settings(cache_dir=sys.argv[1], data_dir=sys.argv[2])
    orchestrator = AgentOrchestrator(settings)
    orchestrator.plugin_manager.list_plugins()
    steps["constructed"] = loaded()

    async def main():
        await orchestrator.semantic_memory.count()
        steps["memory used"] = loaded()
        await orchestrator.episodic_memory.record("goal", [], "ok")
        steps["episode stored"] = loaded()
        await orchestrator.aclose()

    asyncio.run(main())
    print(json.dumps(steps))
    """
)


def test_everything_loads_lazily(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _LAZY, str(tmp_path / "cache"), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        check=True,
    )
    steps = json.loads(proc.stdout.strip().splitlines()[-1])
    assert steps["constructed"] == []
    # The memory family imports the plugin; the channels wait for the first event.
    assert "victor_notify.plugin" in steps["memory used"]
    assert "victor_notify_log.plugin" not in steps["memory used"]
    assert "victor_notify.hookspecs" in steps["episode stored"]


def test_module_docstring_names_the_api() -> None:
    for name in victor_notify.__all__:
        assert hasattr(victor_notify, name)
