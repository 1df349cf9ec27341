"""The skills: each composes workspace tools and turns their outputs into a verdict.

A skill first looks for the output it needs among ``inputs`` (the outputs of
the plan steps it depends on), recognising each tool's output by its shape,
and runs the tool itself only when no step did.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import victor_workspace_tools as wt

__all__ = ["check_test_health", "code_review", "repo_overview"]

# A tool's output is recognised by a key only it returns.
_SIGNATURES = {
    "analyze_code": "complex_functions",
    "search_code": "matches",
    "git_status": "clean",
    "git_log": "commits",
    "run_tests": "timed_out",
    "list_files": "truncated",
    "count_lines": "languages",
}

_TODO_PATTERN = r"#\s*(TODO|FIXME|XXX|HACK)\b"


def _reuse(inputs: Any, tool: str) -> dict[str, Any] | None:
    """The output of ``tool`` among ``inputs`` (a dict of step outputs, or a list), if any."""
    values = inputs.values() if isinstance(inputs, dict) else inputs or ()
    key = _SIGNATURES[tool]
    for value in values:
        if isinstance(value, dict) and key in value:
            if tool == "list_files" and "files" not in value:
                continue
            return value
    return None


def _get(inputs: Any, tool: str, run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    found = _reuse(inputs, tool)
    if found is not None:
        return found, True
    return run(), False


def code_review(
    path: str = ".",
    file: str | None = None,
    *,
    complexity_threshold: int = 10,
    long_function_lines: int = 50,
    inputs: Any = None,
) -> dict[str, Any]:
    """Review the code of the workspace (or one file) and rank the findings.

    Args:
        path: the workspace root.
        file: a file or directory to review (default: the whole workspace).
        complexity_threshold: functions at least this complex are findings.
        long_function_lines: functions longer than this are findings.
        inputs: outputs of earlier plan steps (reused when they hold what is needed).

    Returns:
        ``findings`` (each ``severity``, ``kind``, ``where``, ``message``), ``counts``
        by severity, ``reused`` (tools whose output came from earlier steps), ``summary``.
    """
    reused: list[str] = []
    analysis, was_reused = _get(
        inputs,
        "analyze_code",
        lambda: wt.analyze_code(
            path,
            file,
            complexity_threshold=complexity_threshold,
            long_function_lines=long_function_lines,
        ),
    )
    if was_reused:
        reused.append("analyze_code")
    status, was_reused = _get(inputs, "git_status", lambda: wt.git_status(path))
    if was_reused:
        reused.append("git_status")
    findings: list[dict[str, Any]] = []
    for error in analysis.get("errors", []):
        findings.append({"severity": "high", "kind": "syntax", "where": error, "message": error})
    for func in analysis.get("complex_functions", []):
        level = "high" if func["complexity"] >= 2 * complexity_threshold else "medium"
        findings.append(
            {
                "severity": level,
                "kind": "complexity",
                "where": f"{func['file']}:{func['line']}",
                "message": f"{func['name']} has complexity {func['complexity']}; split it up",
            }
        )
    for func in analysis.get("long_functions", []):
        findings.append(
            {
                "severity": "medium",
                "kind": "length",
                "where": f"{func['file']}:{func['line']}",
                "message": f"{func['name']} is {func['lines']} lines long",
            }
        )
    todos = analysis.get("todos", [])
    for todo in todos:
        findings.append(
            {
                "severity": "low",
                "kind": "todo",
                "where": f"{todo['file']}:{todo['line']}",
                "message": f"{todo['tag']}: {todo['text']}".rstrip(": "),
            }
        )
    search = _reuse(inputs, "search_code")
    if search is not None:
        reused.append("search_code")
        seen = {f["where"] for f in findings}
        for match in search.get("matches", []):
            where = f"{match['file']}:{match['line']}"
            if where not in seen:
                findings.append(
                    {
                        "severity": "low",
                        "kind": "match",
                        "where": where,
                        "message": match["text"].strip(),
                    }
                )
    if status.get("repository") and not status.get("clean", True):
        findings.append(
            {
                "severity": "info",
                "kind": "changes",
                "where": status.get("branch") or ".",
                "message": f"{len(status.get('changes', []))} uncommitted changes",
            }
        )
    order = {"high": 0, "medium": 1, "low": 2, "info": 3}
    findings.sort(key=lambda f: (order[f["severity"]], f["where"]))
    counts = {level: sum(f["severity"] == level for f in findings) for level in order}
    summary = (
        "no findings"
        if not findings
        else ", ".join(f"{n} {level}" for level, n in counts.items() if n) + " findings"
    )
    highlights = [f"[{f['severity']}] {f['where']} {f['message']}" for f in findings[:10]]
    truncated = bool(analysis.get("truncated"))
    if truncated:
        totals = analysis.get("totals", {})
        note = (
            f"TRUNCATED: {totals.get('files', 0)} of {totals.get('files_seen', '?')} files "
            f"reviewed ({analysis.get('skipped_count', 0)} skipped)"
        )
        summary += f"; {note}"
        highlights.insert(0, note)
    return {
        "findings": findings,
        "counts": counts,
        "reused": reused,
        "truncated": truncated,
        "skipped": analysis.get("skipped", []),
        "summary": f"code review: {summary}",
        "highlights": highlights,
    }


def check_test_health(
    path: str = ".", *, timeout: float = 300.0, inputs: Any = None
) -> dict[str, Any]:
    """Run the tests and judge the health of the suite.

    Args:
        path: the workspace root.
        timeout: seconds the test run may take.
        inputs: outputs of earlier plan steps (reused when they hold what is needed).

    Returns:
        ``verdict`` (``healthy``, ``failing``, ``timed out``, ``no tests``),
        ``tests`` (the run's counts), ``test_files``, ``source_files``,
        ``test_ratio`` (test lines / source lines), ``reasons``, ``summary``.
    """
    reused: list[str] = []
    run, was_reused = _get(inputs, "run_tests", lambda: wt.run_pytest(path, timeout=timeout))
    if run.get("pytest_missing"):
        from victor_core.exceptions import ToolError

        raise ToolError("test_health: pytest is not installed, so the tests cannot run")
    if was_reused:
        reused.append("run_tests")
    listing, was_reused = _get(inputs, "list_files", lambda: wt.list_files(path, glob="*.py"))
    if was_reused:
        reused.append("list_files")
    py_files = [f for f in listing.get("files", []) if str(f).endswith(".py")]
    test_files = [f for f in py_files if _is_test_file(f)]
    source_files = [f for f in py_files if f not in test_files]
    reasons: list[str] = []
    if run.get("timed_out"):
        verdict = "timed out"
        reasons.append("the test run did not finish in time")
    elif run.get("exit_code") == 5 or not (run.get("passed") or run.get("failed")):
        verdict = "no tests"
        reasons.append("no tests were collected")
    elif run.get("failed") or run.get("errors"):
        verdict = "failing"
        reasons.append(f"{run.get('failed', 0)} failed and {run.get('errors', 0)} errors")
    else:
        verdict = "healthy"
        reasons.append(f"all {run.get('passed', 0)} tests pass")
    ratio = len(test_files) / len(source_files) if source_files else None
    if ratio is not None and ratio < 0.2:
        reasons.append(f"few test files: {len(test_files)} for {len(source_files)} source files")
    if run.get("skipped"):
        reasons.append(f"{run['skipped']} skipped")
    return {
        "verdict": verdict,
        "tests": {k: run.get(k, 0) for k in ("passed", "failed", "errors", "skipped")},
        "failures": run.get("failures", []),
        "test_files": len(test_files),
        "source_files": len(source_files),
        "test_file_ratio": ratio,
        "reasons": reasons,
        "reused": reused,
        "summary": f"test health: {verdict} ({'; '.join(reasons)})",
        "highlights": reasons
        + [f"{f['id']} {f.get('message', '')}".strip() for f in run.get("failures", [])[:5]],
    }


def _is_test_file(rel: str) -> bool:
    name = PurePosixPath(rel).name
    parts = PurePosixPath(rel).parts
    return name.startswith("test_") or name.endswith("_test.py") or "tests" in parts[:-1]


def repo_overview(path: str = ".", *, inputs: Any = None) -> dict[str, Any]:
    """Describe the repository: languages, size, top-level layout, recent commits.

    Args:
        path: the workspace root.
        inputs: outputs of earlier plan steps (reused when they hold what is needed).

    Returns:
        ``languages``, ``total_lines``, ``top_level`` (entries with file counts),
        ``recent_commits``, ``summary``.
    """
    reused: list[str] = []
    listing, was_reused = _get(inputs, "list_files", lambda: wt.list_files(path, max_files=100_000))
    if was_reused:
        reused.append("list_files")
    lines, was_reused = _get(inputs, "count_lines", lambda: wt.count_lines(path))
    if was_reused:
        reused.append("count_lines")
    log, was_reused = _get(inputs, "git_log", lambda: wt.git_log(path, limit=5))
    if was_reused:
        reused.append("git_log")
    top: dict[str, int] = {}
    for rel in listing.get("files", []):
        head = str(rel).split("/", 1)
        key = head[0] + ("/" if len(head) > 1 else "")
        top[key] = top.get(key, 0) + 1
    layout = sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))
    languages = lines.get("languages", [])
    main = languages[0]["language"] if languages else "unknown"
    commits = log.get("commits", [])
    summary = (
        f"{listing.get('count', 0)} files, {lines.get('total_lines', 0)} lines, mostly {main}"
        + (f"; last commit {commits[0]['date']}" if commits else "")
    )
    return {
        "languages": languages,
        "total_lines": lines.get("total_lines", 0),
        "top_level": [{"entry": k, "files": n} for k, n in layout],
        "recent_commits": commits,
        "reused": reused,
        "summary": f"overview: {summary}",
        "highlights": [f"{k}: {n} files" for k, n in layout[:6]]
        + [f"{c['hash']} {c['subject']}" for c in commits[:3]],
    }
