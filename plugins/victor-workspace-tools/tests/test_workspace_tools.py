"""Tests of the workspace tools, on small repositories made in tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from victor_core.exceptions import ToolError, ToolParameterError, ToolTimeoutError
from victor_core.models import Tool

import victor_workspace_tools as wt
from victor_workspace_tools import plugin
from victor_workspace_tools._workspace import GitIgnore, Workspace, WorkspacePathError

COMPLEX = '''
def branchy(x, y):
    """Many paths."""
    if x and y or x:
        for i in range(3):
            if i:
                pass
    elif y:
        while y:
            y -= 1
    try:
        pass
    except ValueError:
        pass
    return [a for a in range(3) if a]


class Box:
    def small(self):
        return 1  # TODO: make it bigger
'''


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "core.py").write_text(COMPLEX)
    (root / "pkg" / "long.py").write_text(
        "def long():\n" + "".join(f"    x{i} = {i}\n" for i in range(60)) + "    return 0\n"
    )
    (root / "README.md").write_text("# Demo\n\nSome text.\n")
    (root / ".gitignore").write_text("*.log\nbuild/\n/secret.txt\n!keep.log\n")
    (root / "app.log").write_text("noise\n")
    (root / "keep.log").write_text("kept\n")
    (root / "secret.txt").write_text("hidden\n")
    (root / "build").mkdir()
    (root / "build" / "out.py").write_text("x = 1\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "core.pyc").write_bytes(b"\0\0")
    return root


def test_gitignore_matcher() -> None:
    gi = GitIgnore(["# comment", "*.pyc", "/top.txt", "docs/**/*.html", "cache/", "!keep.pyc"])
    assert gi.match("a/b/c.pyc", is_dir=False) is True
    assert gi.match("keep.pyc", is_dir=False) is False
    assert gi.match("top.txt", is_dir=False) is True
    assert gi.match("sub/top.txt", is_dir=False) is None
    assert gi.match("docs/x/y/z.html", is_dir=False) is True
    assert gi.match("docs/z.html", is_dir=False) is True
    assert gi.match("cache", is_dir=True) is True
    assert gi.match("cache", is_dir=False) is None
    nested = GitIgnore(["*.tmp"], base="sub")
    assert nested.match("sub/x.tmp", is_dir=False) is True
    assert nested.match("x.tmp", is_dir=False) is None


def test_list_files_respects_gitignore(repo: Path) -> None:
    result = wt.list_files(str(repo))
    files = result["files"]
    assert "pkg/core.py" in files
    assert "keep.log" in files
    assert "README.md" in files
    assert "app.log" not in files
    assert "secret.txt" not in files
    assert not any(f.startswith("build/") for f in files)
    assert not any("__pycache__" in f for f in files)
    assert result["count"] == len(files)
    assert wt.list_files(str(repo), glob="*.py")["files"] == [
        "pkg/__init__.py",
        "pkg/core.py",
        "pkg/long.py",
    ]
    limited = wt.list_files(str(repo), max_files=1)
    assert limited["truncated"] is True
    assert len(limited["files"]) == 1


def test_nested_gitignore(repo: Path) -> None:
    (repo / "pkg" / ".gitignore").write_text("long.py\n")
    assert "pkg/long.py" not in wt.list_files(str(repo))["files"]
    assert "pkg/long.py" not in wt.list_files(str(repo), directory="pkg")["files"]


def test_paths_are_confined(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    with pytest.raises(WorkspacePathError, match="outside the workspace"):
        wt.read_file("../outside.txt", path=str(repo))
    with pytest.raises(WorkspacePathError, match="outside the workspace"):
        wt.read_file(str(outside), path=str(repo))
    with pytest.raises(WorkspacePathError, match="outside the workspace"):
        wt.list_files(str(repo), directory="..")
    with pytest.raises(WorkspacePathError, match="does not exist"):
        wt.read_file("missing.py", path=str(repo))
    with pytest.raises(WorkspacePathError, match="does not exist"):
        Workspace(tmp_path / "nope")
    assert isinstance(WorkspacePathError("x"), ToolError)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlinks_out_are_not_followed(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "private.py").write_text("TOKEN = 1\n")
    try:
        (repo / "link_dir").symlink_to(outside, target_is_directory=True)
        (repo / "link_file.py").symlink_to(outside / "private.py")
        (repo / "inner_link.py").symlink_to(repo / "pkg" / "core.py")
    except OSError:
        pytest.skip("cannot create symbolic links here")
    files = wt.list_files(str(repo))["files"]
    assert not any(f.startswith("link_dir") for f in files)
    assert "link_file.py" not in files
    assert "inner_link.py" in files
    with pytest.raises(WorkspacePathError, match="outside"):
        wt.read_file("link_file.py", path=str(repo))
    with pytest.raises(WorkspacePathError, match="outside"):
        wt.read_file("link_dir/private.py", path=str(repo))
    assert wt.search_code("TOKEN", path=str(repo))["count"] == 0


def test_read_file_ranges_and_inputs(repo: Path) -> None:
    result = wt.read_file("README.md", path=str(repo))
    assert result["text"].startswith("# Demo")
    assert result["lines"] == 3
    part = wt.read_file("pkg/core.py", path=str(repo), start_line=2, end_line=3)
    assert part["text"].splitlines()[0].startswith("def branchy")
    assert len(part["text"].splitlines()) == 2
    assert wt.read_file("pkg/core.py", path=str(repo), max_bytes=10)["truncated"] is True
    chained = wt.read_file(path=str(repo), inputs={"s1": {"matches": [{"file": "README.md"}]}})
    assert chained["file"] == "README.md"
    with pytest.raises(ToolParameterError, match="needs a 'file'"):
        wt.read_file(path=str(repo))
    with pytest.raises(WorkspacePathError, match="not a file"):
        wt.read_file("pkg", path=str(repo))
    (repo / "blob.bin").write_bytes(b"\0\1\2")
    assert wt.read_file("blob.bin", path=str(repo))["binary"] is True


def test_search_code_with_context(repo: Path) -> None:
    result = wt.search_code(r"for i in", path=str(repo), context=1)
    assert result["count"] == 1
    match = result["matches"][0]
    assert match["file"] == "pkg/core.py"
    assert match["before"] == ["    if x and y or x:"]
    assert match["after"] == ["            if i:"]
    assert result["files"] == [{"file": "pkg/core.py", "count": 1}]
    assert wt.search_code("noise", path=str(repo))["count"] == 0  # app.log is ignored
    assert wt.search_code("DEMO", path=str(repo), ignore_case=True)["count"] == 1
    assert wt.search_code("x", path=str(repo), glob="*.md")["count"] == 1
    capped = wt.search_code(r"x\d+", path=str(repo), max_matches=3)
    assert capped["truncated"] is True
    assert len(capped["matches"]) == 3
    with pytest.raises(ToolParameterError, match="not a valid regular expression"):
        wt.search_code("(unclosed", path=str(repo))


def test_analyze_code(repo: Path) -> None:
    report = wt.analyze_source(COMPLEX, long_lines=5)
    funcs = {d["name"]: d for d in report["definitions"] if d["kind"] == "function"}
    assert set(funcs) == {"branchy", "Box.small"}
    # 1 + if + or/and + for + if + elif(if) + while + except + comprehension + its if
    assert funcs["branchy"]["complexity"] == 11
    assert funcs["Box.small"]["complexity"] == 1
    assert [t["tag"] for t in report["todos"]] == ["TODO"]
    assert report["long_functions"][0]["name"] == "branchy"

    result = wt.analyze_code(path=str(repo), complexity_threshold=5)
    assert result["totals"]["files"] == 3
    assert result["complex_functions"][0]["name"] == "branchy"
    assert result["long_functions"][0]["name"] == "long"
    assert result["todos"][0]["file"] == "pkg/core.py"
    single = wt.analyze_code(path=str(repo), file="pkg/core.py")
    assert single["totals"]["files"] == 1


def test_analyze_code_reports_syntax_errors(repo: Path) -> None:
    (repo / "pkg" / "broken.py").write_text("def oops(:\n    pass  # FIXME: fix\n")
    result = wt.analyze_code(path=str(repo))
    assert any("broken.py" in e for e in result["errors"])
    assert any(t["tag"] == "FIXME" for t in result["todos"])


def test_count_lines(repo: Path) -> None:
    result = wt.count_lines(str(repo))
    langs = {e["language"]: e for e in result["languages"]}
    assert langs["Python"]["files"] == 3
    assert langs["Markdown"]["lines"] == 3
    assert langs["Markdown"]["blank"] == 1
    assert result["total_lines"] == sum(e["lines"] for e in result["languages"])
    assert "build" not in str(result)


def test_parse_pytest_summary() -> None:
    output = textwrap.dedent(
        """\
        ..F
        FAILED tests/test_a.py::test_bad - assert 1 == 2
        ========== 2 passed, 1 failed, 1 warning in 0.12s ==========
        """
    )
    parsed = wt.parse_pytest_summary(output)
    assert parsed["passed"] == 2
    assert parsed["failed"] == 1
    assert parsed["warnings"] == 1
    assert parsed["failures"] == [{"id": "tests/test_a.py::test_bad", "message": "assert 1 == 2"}]
    assert wt.parse_pytest_summary("garbage")["summary_line"] == ""


def _write_tests(repo: Path, body: str) -> None:
    (repo / "tests").mkdir(exist_ok=True)
    (repo / "tests" / "test_demo.py").write_text(textwrap.dedent(body))


def test_run_tests_parses_results(repo: Path) -> None:
    _write_tests(
        repo,
        """\
        def test_ok():
            assert True

        def test_bad():
            assert 1 == 2
        """,
    )
    result = wt.run_pytest(path=str(repo), timeout=60)
    assert result["passed"] == 1
    assert result["failed"] == 1
    assert result["success"] is False
    assert result["failures"][0]["id"].endswith("test_bad")
    assert result["timed_out"] is False
    # As a tool, a failing run is a failed step.
    with pytest.raises(wt.FailingTestsError, match="1 failed") as info:
        wt.run_tests(path=str(repo), timeout=60)
    assert info.value.result["failed"] == 1
    only = wt.run_tests(path=str(repo), args=["-k", "ok"], timeout=60)
    assert only["success"] is True
    assert only["passed"] == 1


def test_run_tests_timeout_and_empty(repo: Path, tmp_path: Path) -> None:
    _write_tests(
        repo,
        """\
        import time

        def test_slow():
            time.sleep(30)
        """,
    )
    result = wt.run_pytest(path=str(repo), timeout=1)
    assert result["timed_out"] is True
    assert result["success"] is False
    with pytest.raises(ToolTimeoutError):
        wt.run_tests(path=str(repo), timeout=1)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert wt.run_pytest(path=str(empty), timeout=60)["summary"] == "no tests were collected"
    assert wt.run_tests(path=str(empty), timeout=60)["summary"].startswith("no tests:")
    # Test files that collect nothing: a failed step, not an empty success.
    (empty / "test_nothing.py").write_text("x = 1\n")
    with pytest.raises(wt.FailingTestsError, match="no tests were collected"):
        wt.run_tests(path=str(empty), timeout=60)
    with pytest.raises(WorkspacePathError):
        wt.run_tests(path=str(repo), file="../elsewhere")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_status_and_log(repo: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)

    git("init", "-q", "-b", "main")
    assert wt.git_log(str(repo))["summary"] == "no commits yet"
    git("add", ".")
    git("commit", "-q", "-m", "first commit")
    status = wt.git_status(str(repo))
    assert status["repository"] is True
    assert status["branch"] == "main"
    assert status["clean"] is True
    (repo / "new.py").write_text("y = 2\n")
    status = wt.git_status(str(repo))
    assert status["changes"] == [{"status": "??", "file": "new.py"}]
    log = wt.git_log(str(repo))
    assert log["commits"][0]["subject"] == "first commit"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert wt.git_status(str(plain))["repository"] is False


def test_git_missing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = wt.git_status(str(repo))
    assert result["available"] is False
    assert "not installed" in result["summary"]


def test_plugin_provides_tools() -> None:
    tools = plugin.victor_tools()
    assert [t.name for t in tools] == list(plugin.TOOLS)
    assert all(isinstance(t, Tool) for t in tools)
    assert all(len(t.description) > 60 for t in tools)
    schema = {t.name: t.parameters for t in tools}
    assert "pattern" in schema["search_code"]["required"]
    assert schema["list_files"]["required"] == []


def test_tools_run_through_the_default_cwd(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    assert "README.md" in wt.list_files()["files"]
    assert sys.executable
