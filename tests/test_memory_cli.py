"""``victor memory stats`` and ``victor memory prune``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from victor_core.cli import main
from victor_core.memory import MemoryManager
from victor_core.plugins import PluginManager
from victor_core.settings import Settings

DAY = 86400.0


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VICTOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VICTOR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "data"


def _seed(data_dir: Path, ages_days: list[float]) -> None:
    settings = Settings(data_dir=data_dir)
    now = time.time()

    async def seed() -> None:
        for age in ages_days:
            manager = MemoryManager(
                PluginManager(settings, discover=False), settings, clock=lambda a=age: now - a * DAY
            )
            try:
                await manager.episodic.record(f"episode {age} days old", [], "ok")
            finally:
                await manager.aclose()
        manager = MemoryManager(PluginManager(settings, discover=False), settings)
        try:
            await manager.semantic.add_fact("a fact")
        finally:
            await manager.aclose()

    asyncio.run(seed())


def test_stats_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(data_dir, [1, 2, 3])
    assert main(["memory", "stats", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["episodes"] == 3
    assert doc["facts"] == 1
    assert doc["backend"] == "sqlite"
    assert doc["path"] == str(data_dir / "memory.sqlite3")
    assert doc["max_episodes"] == Settings().episodic_memory_max_episodes
    assert doc["episodic_enabled"] is True


def test_stats_table(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "stats"]) == 0
    out = capsys.readouterr().out
    assert "episodes" in out
    assert "max_facts" in out


def test_prune(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(data_dir, [40, 35, 10, 1])
    assert main(["memory", "prune", "--days", "30", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"days": 30.0, "episodes_removed": 2, "episodes_left": 2}
    assert main(["memory", "prune", "--days", "5"]) == 0
    captured = capsys.readouterr()
    assert "removed 1 episode older than 5 days; 1 left" in captured.out
    assert "pruning" in captured.err


@pytest.mark.parametrize("days", ["-3", "nan"])
def test_prune_rejects_bad_days(
    data_dir: Path, capsys: pytest.CaptureFixture[str], days: str
) -> None:
    assert main(["memory", "prune", "--days", days]) == 2
    err = capsys.readouterr().err
    assert "days must be a number of days, 0 or more" in err
    assert "Traceback" not in err


def test_prune_needs_days(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["memory", "prune"])
    assert info.value.code == 2
    assert "--days" in capsys.readouterr().err


def test_memory_without_action_shows_usage(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["memory"]) == 2
    assert "stats" in capsys.readouterr().err


def test_commands_do_not_create_a_store(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "stats", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["episodes"], doc["facts"], doc["size_bytes"]) == (0, 0, 0)
    assert main(["memory", "prune", "--days", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes_removed"] == 0
    assert main(["memory", "prune", "--days", "-1"]) == 2
    assert not (data_dir / "memory.sqlite3").exists()
