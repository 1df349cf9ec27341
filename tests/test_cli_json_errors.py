"""``--json`` failure paths: stdout is one JSON document with ``ok`` false, the exit code non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from victor_core.cli import main

for _module in ("victor_workspace_tools", "victor_planner", "victor_personas"):
    pytest.importorskip(_module)


def _victor(tmp_path: Path, *argv: str, **env: str) -> tuple[int, dict[str, Any], str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VICTOR_")}
    environ.update(
        VICTOR_CACHE_DIR=str(tmp_path / "cache"), VICTOR_DATA_DIR=str(tmp_path / "data"), **env
    )
    done = subprocess.run(
        [sys.executable, "-m", "victor_core", *argv],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout), done.stderr


def test_goal_no_tool_fits(tmp_path: Path) -> None:
    code, doc, err = _victor(tmp_path, "run", "xyzzy frobnicate quux", "--json")
    assert code != 0
    assert doc["ok"] is False
    assert doc["status"] == "no_tool_fits"
    assert doc["error"].startswith("no tool fits the goal 'xyzzy frobnicate quux'")
    assert doc["closest_tools"] and all(isinstance(n, str) for n in doc["closest_tools"])
    assert ", ".join(doc["closest_tools"]) in doc["error"]
    assert "no tool fits" in err


def test_provider_that_fails(tmp_path: Path) -> None:
    code, doc, _ = _victor(
        tmp_path,
        "run",
        "list the files",
        "--json",
        VICTOR_PROVIDER="openai",
        VICTOR_PROVIDER_BASE_URL="http://127.0.0.1:9",
        VICTOR_PROVIDER_API_KEY="unused",
        VICTOR_OPENAI_MAX_RETRIES="0",
    )
    assert code == 1
    assert doc["ok"] is False
    assert doc["status"] == "provider_error"
    assert any("127.0.0.1:9" in e for e in doc["errors"])


def test_bad_settings(tmp_path: Path) -> None:
    code, doc, _ = _victor(
        tmp_path, "run", "list the files", "--json", VICTOR_MAX_PARALLEL_WORKERS="0"
    )
    assert code == 2
    assert doc["ok"] is False
    assert doc["error_type"] == "SettingsError"
    assert "max_parallel_workers" in doc["error"] and "(got 0)" in doc["error"]


def test_unknown_persona(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "list the files", "--path", str(tmp_path), "--persona", "nosuch", "--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 2
    assert doc["ok"] is False
    assert doc["error_type"] == "PersonaNotFoundError"
    assert "'nosuch'" in doc["error"] and "assistant" in doc["error"]
    assert "nosuch" in err


def test_stream_json_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "xyzzy frobnicate quux", "--path", str(tmp_path), "--stream-json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code != 0
    assert lines[-1]["event"] == "error" and lines[-1]["status"] == "no_tool_fits"
