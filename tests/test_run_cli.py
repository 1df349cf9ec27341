"""``victor run``: the command line of the agent loop, on a fixture repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from victor_core.cli import main

for _module in ("victor_workspace_tools", "victor_planner", "victor_personas"):
    pytest.importorskip(_module)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VICTOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VICTOR_DATA_DIR", str(tmp_path / "data"))
    for name in ("VICTOR_PROVIDER", "VICTOR_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "mod.py").write_text("def f():\n    return 1  # TODO: more\n")
    (root / "README.md").write_text("# Repo\n")
    (tmp_path / "outside.txt").write_text("private\n")
    return root


def test_run_prints_steps_report_and_summary(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "find TODO comments", "--path", str(repo)])
    out, err = capsys.readouterr()
    assert code == 0
    assert "step" in out
    assert "status" in out
    assert "time (ms)" in out
    assert "search_code" in out
    assert "Report" in out
    assert "src/mod.py:2" in out
    assert "Cache: tool selection 0 hits/1 miss," in out
    assert "Time:" in out
    assert "plan: " in err
    assert "ok search_code" in err


def test_verbose_shows_plugins_loaded_and_tools_selected(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["--log-format", "json", "-v", "run", "find TODO comments", "--path", str(repo)]) == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    loaded = [e for e in events if e["event"] == "plugin_loaded"]
    assert {"workspace", "planner"} <= {e["plugin"] for e in loaded}
    assert all(e["import_ms"] >= 0 for e in loaded)
    selected = next(e for e in events if e["event"] == "tools_selected")
    name, score = selected["tools"][0]
    assert name == "search_code" and score > 0 and selected["cached"] is False
    # Without -v none of it: warnings and errors only.
    assert main(["--log-format", "json", "run", "find TODO comments", "--path", str(repo)]) == 0
    quiet = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert not [e for e in quiet if e["event"] in ("plugin_loaded", "tools_selected")]


def test_second_run_shows_the_cache(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "count lines of code", "--path", str(repo)]) == 0
    capsys.readouterr()
    assert main(["run", "count lines of code", "--path", str(repo)]) == 0
    assert "Cache: tool selection 1 hit/0 misses" in capsys.readouterr().out


def test_json_output_is_only_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "list the files", "--path", str(repo), "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True
    assert doc["goal"] == "list the files"
    step = doc["steps"][0]
    assert {"id", "name", "action", "status", "duration_ms", "duration_s", "summary"} <= set(step)
    assert set(doc["timings_ms"]) >= {"selection", "planning", "execution"}
    assert "outputs" not in doc
    assert "plan:" in err
    main(["run", "list the files", "--path", str(repo), "--json", "--outputs"])
    full = json.loads(capsys.readouterr().out)
    assert "README.md" in full["outputs"]["list_files"]["files"]


def test_persona_changes_the_report(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "explain the project structure", "--path", str(repo), "--persona", "explainer"])
    explained = capsys.readouterr().out
    assert "## " in explained
    assert "(explainer)" in explained


def test_unknown_persona_is_one_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "list the files", "--path", str(repo), "--persona", "pirate"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.startswith("victor: error")]
    assert lines == [
        "victor: error: unknown persona 'pirate'; available personas: "
        "assistant, explainer, reviewer, tester"
    ]
    assert "Traceback" not in err


def test_missing_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "list the files", "--path", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 2
    assert "victor: error: path" in err
    assert "does not exist" in err
    assert "Traceback" not in err


def test_a_failing_step_is_reported_and_the_rest_runs(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "read the file ../outside.txt and count lines", "--path", str(repo)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "failed" in out
    assert "outside the workspace" in out
    assert "Errors" in out
    assert "count_lines" in out
    assert "private" not in out
    assert "Traceback" not in err


def test_profile(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("victor_core.metrics._profiling")
    stats = tmp_path / "run.pstats"
    code = main(
        ["run", "list the files", "--path", str(repo), "--profile", "--profile-output", str(stats)]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert stats.exists()
    assert "profile:" in err
    assert "Report" in out
