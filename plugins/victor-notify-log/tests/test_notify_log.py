"""victor-notify-log: a channel of the notify family, found through its entry point."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from victor_notify import anotify, channels, notify
from victor_notify_log import events_path, read_events
from victor_notify_log import plugin as log_plugin

from victor_core import AgentOrchestrator, PluginManager, Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")


def test_is_listed_in_the_notify_family(tmp_path: Path) -> None:
    infos = {(i.family, i.name): i for i in PluginManager(_settings(tmp_path)).list_plugins()}
    info = infos[("notify", "log")]
    assert info.dist_name == "victor-notify-log"
    assert not info.loaded


def test_writes_one_json_line_per_event(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    pm = PluginManager(settings)
    assert "log" in channels(pm)
    results = notify(pm, "deploy_done", {"service": "api", "when": Path("x")})
    assert str(events_path(settings)) in results
    asyncio.run(anotify(pm, "ping", {}))
    events = read_events(settings)
    assert [e["event"] for e in events] == ["deploy_done", "ping"]
    assert events[0]["payload"] == {"service": "api", "when": "x"}
    assert isinstance(events[0]["time"], float)


def test_stored_episodes_reach_the_log(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    async def scenario() -> None:
        async with AgentOrchestrator(settings) as orchestrator:
            await orchestrator.episodic_memory.record("fix the bug", ["edit_file"], "fixed")

    asyncio.run(scenario())
    (event,) = read_events(settings)
    assert event["event"] == "episode_stored"
    assert event["payload"]["goal"] == "fix the bug"


def test_read_events_skips_torn_lines(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = events_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text('{"event": "a"}\n{"event": \n[1]\n{"event": "b"}\n', encoding="utf-8")
    assert [e["event"] for e in read_events(settings)] == ["a", "b"]
    assert read_events(_settings(tmp_path / "none")) == []


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="needs permissions")
def test_an_unwritable_directory_drops_the_event(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.data_dir.mkdir()
    settings.data_dir.chmod(0o500)
    try:
        result = log_plugin.victor_notify(event="ping", payload={}, settings=settings)
    finally:
        settings.data_dir.chmod(0o700)
    assert result is None


def test_a_file_in_the_way_drops_the_event(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    settings = _settings(tmp_path)
    settings.data_dir.mkdir()
    (settings.data_dir / "notify").write_text("not a folder", encoding="utf-8")
    with capture_logs() as logs:
        result = log_plugin.victor_notify(event="ping", payload={}, settings=settings)
    assert result is None
    assert logs[0]["event"] == "notify_log_failed"


def test_the_file_is_rotated_at_max_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import victor_notify_log
    from victor_notify_log import rotated_path

    monkeypatch.setattr(victor_notify_log, "MAX_BYTES", 400)
    settings = _settings(tmp_path)
    for i in range(40):
        log_plugin.victor_notify(event=f"e{i}", payload={"n": i}, settings=settings)
    current, older = events_path(settings), rotated_path(settings)
    assert older.is_file()
    assert current.stat().st_size <= 400
    assert older.stat().st_size <= 400
    kept = [e["event"] for e in read_events(settings)]
    # The newest events are kept, in order; the oldest went with the rotations.
    assert kept == [f"e{i}" for i in range(40 - len(kept), 40)]
    assert 2 < len(kept) < 40
