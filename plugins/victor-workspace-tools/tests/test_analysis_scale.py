"""The analysis tools at scale: TODOs without the tokenizer, one walk, limits, cache, pool."""

from __future__ import annotations

import ast
import asyncio
import io
import os
import sysconfig
import tokenize
from pathlib import Path
from typing import Any

import pytest
from victor_core import AgentOrchestrator, Settings

import victor_workspace_tools as wt
from victor_workspace_tools import _parse, _scan
from victor_workspace_tools._analysis import _analyze_file, complexity

_STDLIB = Path(sysconfig.get_paths()["stdlib"])
_TODO_WORDS = ("TODO", "FIXME", "XXX", "HACK")


def _stdlib_files(limit: int, *, with_todo: bool = False) -> list[Path]:
    chosen = []
    for file in sorted(_STDLIB.glob("*.py")) + sorted(_STDLIB.glob("*/*.py")):
        if with_todo:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if not any(word in text for word in _TODO_WORDS):
                continue
        chosen.append(file)
        if len(chosen) == limit:
            break
    return chosen


def _tokenizer_todos(source: str) -> list[dict[str, Any]]:
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            match = _parse._TODO.search(tok.string)
            if match:
                found.append(
                    {"line": tok.start[0], "tag": match.group(1), "text": match.group(2).strip()}
                )
    return found


def test_todos_agree_with_the_tokenizer_on_the_standard_library() -> None:
    files = _stdlib_files(120, with_todo=True)
    assert len(files) >= 30
    compared = 0
    for file in files:
        source = file.read_text(encoding="utf-8")
        try:
            expected = _tokenizer_todos(source)
        except (tokenize.TokenError, SyntaxError):
            continue
        assert _parse.find_todos(source) == expected, file
        compared += 1
    assert compared >= 30


def test_todos_in_strings_are_not_comments() -> None:
    source = (
        's = "# TODO not a comment"\n'
        "t = '''\n# FIXME inside a docstring\n'''  # XXX: real one\n"
        "u = 'it''s # HACK no'  # TODO: second\n"
        'v = r"\\" # TODO no"\n'
    )
    assert _parse.find_todos(source) == [
        {"line": 4, "tag": "XXX", "text": "real one"},
        {"line": 5, "tag": "TODO", "text": "second"},
    ]
    assert _parse.find_todos(source) == _tokenizer_todos(source)


def _reference_complexity(node: ast.AST) -> int:
    """The textbook definition, walking the function's subtree again."""
    score = 1
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(child, _parse._BRANCHES):
            score += 1
            if isinstance(child, ast.comprehension):
                score += len(child.ifs)
        elif isinstance(child, ast.BoolOp):
            score += len(child.values) - 1
        stack.extend(ast.iter_child_nodes(child))
    return score


def test_one_walk_gives_the_complexity_of_a_second_walk() -> None:
    checked = 0
    for file in _stdlib_files(40):
        source = file.read_text(encoding="utf-8")
        tree = ast.parse(source)
        funcs = [
            n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        by_line = {(n.lineno, n.name): _reference_complexity(n) for n in funcs}
        for d in _parse.analyze_source(source)["definitions"]:
            if d["kind"] == "function":
                key = (d["line"], d["name"].rsplit(".", 1)[-1])
                assert d["complexity"] == by_line[key], (file, d["name"])
                checked += 1
    assert checked > 200
    func = ast.parse("def f(x):\n    return [y for y in x if y and x]\n").body[0]
    assert complexity(func) == _reference_complexity(func) == 4


def _tree(root: Path, count: int, body: str = "def f(x):\n    if x:\n        return 1\n") -> Path:
    for i in range(count):
        pkg = root / f"pkg{i % 7}"
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / f"mod{i}.py").write_text(f"# TODO: item {i}\n{body}")
    return root


def test_a_second_run_reads_only_changed_files(tmp_path: Path) -> None:
    root = _tree(tmp_path / "ws", 12)
    cold = wt.analyze_code(str(root))
    assert cold["cache"] == {"hits": 0, "misses": 12}
    warm = wt.analyze_code(str(root))
    assert warm["cache"] == {"hits": 12, "misses": 0}
    assert warm["files"] == cold["files"]
    changed = root / "pkg0" / "mod0.py"
    changed.write_text("def g(a, b):\n    return a and b or a\n")
    os.utime(changed, ns=(1, 1))  # a different mtime even on coarse clocks
    again = wt.analyze_code(str(root))
    assert again["cache"] == {"hits": 11, "misses": 1}
    mod0 = next(f for f in again["files"] if f["file"] == "pkg0/mod0.py")
    assert mod0["todos"] == []
    assert mod0["definitions"][0]["name"] == "g"
    # The options of a call are applied to cached results, not baked into them.
    longer = wt.analyze_code(str(root), long_function_lines=1)
    assert longer["cache"]["misses"] == 0
    assert longer["totals"]["long"] == 12


def test_the_pool_gives_the_same_results(tmp_path: Path) -> None:
    root = _tree(tmp_path / "ws", _scan.POOL_MIN_FILES + 20)
    files = [(p, p.relative_to(root).as_posix()) for p in sorted(root.rglob("*.py"))]
    serial = _scan.scan(files, _analyze_file, kind="analysis", limits=_scan.Limits(workers=1))
    pooled = _scan.scan(files, _analyze_file, kind="analysis", limits=_scan.Limits(workers=2))
    assert serial.workers == 1
    assert pooled.workers == 2
    assert pooled.results == serial.results
    assert len(pooled.results) == len(files)


def test_the_file_limit_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path / "ws", 8)
    monkeypatch.setenv("VICTOR_ANALYSIS_MAX_FILES", "3")
    result = wt.analyze_code(str(root))
    assert result["truncated"] is True
    assert result["totals"]["files"] == 3
    assert result["totals"]["files_seen"] == 8
    assert result["skipped_count"] == 5
    assert "3 of 8 files analysed" in result["summary"]
    assert result["highlights"][0].startswith("TRUNCATED")
    assert wt.analyze_code(str(root), max_files=100)["truncated"] is False
    lines = wt.count_lines(str(root))
    assert lines["truncated"] is True
    assert "3 of 8" in lines["summary"]


def test_a_huge_sparse_file_is_skipped_unread(tmp_path: Path) -> None:
    root = _tree(tmp_path / "ws", 2)
    huge = root / "huge.py"
    with huge.open("wb") as fh:
        fh.truncate(2 * 1024**3)  # 2 GB, sparse: costs no disk and must cost no reading
    result = wt.analyze_code(str(root))
    assert result["totals"]["files"] == 2
    assert result["truncated"] is True
    assert result["skipped"][0]["file"] == "huge.py"
    assert "too large" in result["skipped"][0]["reason"]
    review = wt.analyze_code(str(root), file="huge.py")
    assert review["totals"]["files"] == 0
    assert review["truncated"] is True
    search = wt.search_code("TODO", str(root))
    assert search["count"] == 2
    assert search["skipped_count"] == 1
    assert wt.count_lines(str(root))["skipped_count"] == 1
    shown = wt.read_file("huge.py", str(root))
    assert shown["binary"] is True  # NUL bytes: not shown as text


def test_a_large_text_file_is_read_in_a_bounded_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "big.py").write_text("".join(f"x{i} = {i}\n" for i in range(5000)))
    monkeypatch.setenv("VICTOR_ANALYSIS_MAX_FILE_BYTES", "1000")
    shown = wt.read_file("big.py", str(root), start_line=3, end_line=4)
    assert shown["text"] == "x2 = 2\nx3 = 3\n"
    assert shown["truncated"] is True
    assert "TRUNCATED" in shown["summary"]


def test_the_byte_budget_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path / "ws", 6)
    size = (root / "pkg0" / "mod0.py").stat().st_size
    monkeypatch.setenv("VICTOR_ANALYSIS_MAX_TOTAL_BYTES", str(size * 2 + 1))
    result = wt.analyze_code(str(root))
    assert result["totals"]["files"] == 2
    assert {s["reason"].split(" (")[0] for s in result["skipped"]} == {"over the byte limit"}


def test_link_loops_and_unreadable_directories_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path / "ws", 3)
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    (root / "locked").mkdir()
    (root / "locked" / "hidden.py").write_text("x = 1\n")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    # Running as root ignores permission bits, so the refusal is simulated.
    monkeypatch.setattr(os, "scandir", scandir)
    result = wt.analyze_code(str(root))
    assert result["totals"]["files"] == 3
    reasons = {s["file"]: s["reason"] for s in result["skipped"]}
    assert reasons["a"] == reasons["b"] == "symbolic link loop"
    assert reasons["locked"] == "permission denied"
    assert result["truncated"] is True
    listing = wt.list_files(str(root))
    assert listing["count"] == 3
    assert listing["skipped_count"] == 3
    assert wt.search_code("TODO", str(root))["count"] == 3


def test_tools_read_the_settings_of_the_orchestrator_running_them(tmp_path: Path) -> None:
    root = _tree(tmp_path / "ws", 5)
    settings = Settings(
        cache_dir=tmp_path / "orch-cache", data_dir=tmp_path / "data", analysis_max_files=2
    )

    async def main() -> Any:
        async with AgentOrchestrator(settings) as orch:
            return await orch.execute_tool("analyze_code", path=str(root))

    result = asyncio.run(main())
    assert result.ok, result.error
    assert result.value["totals"]["files"] == 2
    assert result.value["truncated"] is True
    assert (tmp_path / "orch-cache" / "analysis").is_dir()
