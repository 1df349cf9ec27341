"""``victor cache``: stats, clear, invalidate and prune from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from victor_core.cache._manager import CacheManager, tool_selection_key
from victor_core.cli import main
from victor_core.settings import Settings


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("VICTOR_CACHE_DIR", str(directory))
    return directory


def _fill(cache_dir: Path) -> None:
    manager = CacheManager(Settings(cache_dir=cache_dir))
    tools = manager.get("tool_selection")
    responses = manager.get("response")
    assert tools is not None
    assert responses is not None
    for query in ("user authentication", "authentication flow", "read files"):
        tools.set(tool_selection_key(query), ["tool"])
    tools.get(tool_selection_key("READ FILES"))
    tools.get(tool_selection_key("unknown"))
    responses.set("openai/gpt:hello#abc", "hi")
    manager.close()


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_stats_table(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(cache_dir)
    assert main(["cache", "stats"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["cache", "enabled", "entries"]
    row = next(line for line in lines if line.startswith("tool_selection"))
    assert row.split()[1:8] == ["on", "3", "1000", "1", "1", "50.0%", "0"]
    assert str(cache_dir / "tool_selection") in row


def test_stats_json_is_the_only_stdout(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(cache_dir)
    doc = _json(capsys, "cache", "stats", "--json")
    assert doc["current_size"] == 4
    assert doc["all_processes"]["hits"] == 1
    assert doc["all_processes"]["hit_rate"] == 0.5
    assert doc["by_type"]["response"]["current_size"] == 1
    one = _json(capsys, "cache", "stats", "tool_selection", "--json")
    assert one["cache_type"] == "tool_selection"
    assert one["current_size"] == 3
    assert {"hit_rate", "miss_rate", "max_size", "evictions", "l1", "l2"} <= set(one)


def test_bare_cache_command_shows_stats(
    cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache"]) == 0
    assert "tool_selection" in capsys.readouterr().out


def test_disabled_cache_shows_off(
    cache_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VICTOR_RESPONSE_CACHE_ENABLED", "0")
    assert main(["cache", "stats"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("resp"))
    assert row.split()[1] == "off"


def test_invalidate(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(cache_dir)
    doc = _json(capsys, "cache", "invalidate", "tool_selection", "*authentication*", "--json")
    assert doc == {"cache_type": "tool_selection", "pattern": "*authentication*", "removed": 2}
    assert main(["cache", "invalidate", "tool_selection", "*"]) == 0
    assert "Removed 1 entry matching '*'" in capsys.readouterr().out


def test_clear_one_and_all(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(cache_dir)
    assert _json(capsys, "cache", "clear", "response", "--json")["removed"] == 1
    assert main(["cache", "clear"]) == 0
    assert "Removed 3 entries from every cache." in capsys.readouterr().out
    assert _json(capsys, "cache", "stats", "--json")["current_size"] == 0


def test_prune(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(cache_dir)
    assert _json(capsys, "cache", "prune", "--json") == {"removed": 0}
    assert main(["cache", "prune"]) == 0
    assert "Removed 0 expired entries." in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["cache", "stats", "sessions"],
        ["cache", "clear", "sessions"],
        ["cache", "invalidate", "sessions", "*"],
    ],
)
def test_unknown_type_is_one_line_error(
    cache_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        "victor: error: unknown cache type 'sessions'; accepted: "
        "'tool_selection', 'response', 'embedding'"
    )


def test_missing_arguments(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["cache", "invalidate", "tool_selection"])
    assert exc.value.code == 2
    assert "PATTERN" in capsys.readouterr().err


def test_unusable_cache_dir_still_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("VICTOR_CACHE_DIR", str(blocker))
    assert main(["cache", "stats"]) == 0
    out = capsys.readouterr().out
    assert "unavailable (memory only)" in out
