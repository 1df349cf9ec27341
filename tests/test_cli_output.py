"""Counts in the command line's output read as English; ``cache stats --json`` key order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from victor_core.cli import main
from victor_core.cli._common import plural


def test_plural() -> None:
    assert plural(1, "step") == "1 step"
    assert plural(2, "step") == "2 steps"
    assert plural(0, "wave") == "0 waves"
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


@pytest.fixture
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VICTOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VICTOR_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_cache_stats_json_leads_with_all_processes(
    cache_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "stats", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    keys = list(doc)
    assert keys[:2] == ["cache_type", "all_processes"]
    assert keys.index("all_processes") < keys.index("hits") < keys.index("by_type")
    for one in doc["by_type"].values():
        inner = list(one)
        if "all_processes" in inner:
            assert inner.index("all_processes") < inner.index("hits") < inner.index("l1")
    # No key is lost: this process's counters are still there.
    for key in ("hits", "misses", "hit_rate", "miss_rate", "evictions", "current_size"):
        assert key in doc


def test_prune_says_entries(cache_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "prune"]) == 0
    assert capsys.readouterr().out.strip() == "Removed 0 expired entries."


def test_run_counts_read_as_english(cache_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("victor_workspace_tools")
    pytest.importorskip("victor_planner")
    repo = cache_env / "repo"
    repo.mkdir()
    (repo / "a.py").write_text("x = 1  # TODO\n")
    assert main(["run", "find TODO comments", "--path", str(repo)]) == 0
    out = capsys.readouterr().out
    summary = out.splitlines()[0]
    assert " 1 steps" not in summary and " 1 waves" not in summary
    assert "step" in summary and "wave" in summary
    assert "1 hits" not in out and "1 misses" not in out


def test_unknown_log_format_is_an_invalid_argument() -> None:
    from victor_core.cli._logging import configure_logging
    from victor_core.exceptions import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=r"log format must be one of .*'xml'") as info:
        configure_logging(fmt="xml")
    assert isinstance(info.value, ValueError)
    assert info.value.argument == "fmt" and info.value.value == "xml"
