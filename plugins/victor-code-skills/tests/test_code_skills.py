"""Tests of the code skills on a small repository made in tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from victor_core.models import Skill

import victor_code_skills as cs
from victor_code_skills import plugin

BRANCHY = (
    "def branchy(x):\n"
    + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(12))
    + "    return -1  # TODO: use a table\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "calc.py").write_text(BRANCHY)
    (root / "src" / "util.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_util.py").write_text(
        textwrap.dedent(
            """\
            import sys, pathlib
            sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "src"))
            from util import add

            def test_add():
                assert add(1, 2) == 3
            """
        )
    )
    return root


def test_code_review_ranks_findings(repo: Path) -> None:
    result = cs.code_review(str(repo))
    kinds = [f["kind"] for f in result["findings"]]
    assert "complexity" in kinds
    assert "todo" in kinds
    assert result["findings"][0]["severity"] in ("high", "medium")
    assert result["counts"]["low"] == 1
    assert result["summary"].startswith("code review:")
    assert result["reused"] == []


def test_code_review_reuses_step_outputs(repo: Path) -> None:
    analysis = {
        "complex_functions": [],
        "long_functions": [],
        "todos": [],
        "errors": ["x.py: line 1: invalid syntax"],
    }
    search = {"matches": [{"file": "a.py", "line": 3, "text": "  # FIXME later"}]}
    result = cs.code_review(str(repo), inputs={"s1": analysis, "s2": search})
    assert set(result["reused"]) == {"analyze_code", "search_code"}
    assert result["findings"][0]["kind"] == "syntax"
    assert any(f["where"] == "a.py:3" for f in result["findings"])


def test_test_health_verdicts(repo: Path, tmp_path: Path) -> None:
    healthy = cs.check_test_health(str(repo), timeout=60)
    assert healthy["verdict"] == "healthy"
    assert healthy["tests"]["passed"] == 1
    assert healthy["test_files"] == 1
    assert healthy["source_files"] == 2
    failing_run = {"timed_out": False, "exit_code": 1, "passed": 1, "failed": 2, "failures": []}
    failing = cs.check_test_health(str(repo), inputs=[failing_run])
    assert failing["verdict"] == "failing"
    assert failing["reused"] == ["run_tests"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cs.check_test_health(str(empty), timeout=60)["verdict"] == "no tests"
    timed = cs.check_test_health(str(repo), inputs={"t": {"timed_out": True}})
    assert timed["verdict"] == "timed out"


def test_repo_overview(repo: Path) -> None:
    result = cs.repo_overview(str(repo))
    assert result["languages"][0]["language"] == "Python"
    assert {"entry": "src/", "files": 2} in result["top_level"]
    assert "mostly Python" in result["summary"]


def test_plugin_provides_skills() -> None:
    skills = plugin.victor_skills()
    assert {s.name for s in skills} == {"code_review", "test_health", "repo_overview"}
    assert all(isinstance(s, Skill) and s.tools for s in skills)
