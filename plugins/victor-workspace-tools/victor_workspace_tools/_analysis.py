"""Static analysis of Python code: definitions, complexity, long functions, TODO comments.

The per-file work is in :mod:`victor_workspace_tools._parse`; this module
applies it to a workspace through :func:`victor_workspace_tools._scan.scan`
(limits, the per-file cache, the process pool) and ranks what it found.
"""

from __future__ import annotations

from typing import Any

from victor_workspace_tools._files import first_file
from victor_workspace_tools._parse import analyze_source
from victor_workspace_tools._scan import current_limits, scan
from victor_workspace_tools._workspace import Workspace

__all__ = ["analyze_code", "analyze_source", "complexity"]


def complexity(node: Any) -> int:
    """Cyclomatic-style complexity of one function node: 1 + branches + extra boolean operands.

    Nested functions and classes count on their own, not in their parent.
    """
    import ast

    from victor_workspace_tools._parse import _definitions

    wrapper = ast.Module(body=[node], type_ignores=[])
    return int(_definitions(wrapper)[0].get("complexity", 1))


def _analyze_file(text: str, options: Any) -> dict[str, Any]:
    """The cached per-file analysis (long functions are chosen later, per call)."""
    report = analyze_source(text, "<file>", long_lines=1 << 30)
    del report["long_functions"]
    return report


def analyze_code(
    path: str = ".",
    file: str | None = None,
    *,
    long_function_lines: int = 50,
    complexity_threshold: int = 10,
    max_files: int | None = None,
    max_file_bytes: int | None = None,
    max_total_bytes: int | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Analyse the workspace's Python code (or one file).

    Args:
        path: the workspace root.
        file: a Python file or directory inside the workspace (default: the
            whole workspace; or a file named by an earlier step's ``inputs``).
        long_function_lines: functions longer than this are reported.
        complexity_threshold: functions at least this complex are reported.
        max_files: most files analysed (default: the ``analysis_max_files`` setting).
        max_file_bytes: larger files are skipped unread (``analysis_max_file_bytes``).
        max_total_bytes: most bytes read in all (``analysis_max_total_bytes``).
        inputs: outputs of the steps this one depends on (in a plan).

    Returns:
        ``files`` (per file: ``file``, ``definitions``, ``todos``, ``syntax_error``),
        ``complex_functions``, ``long_functions``, ``todos``, ``totals``,
        ``truncated`` (a limit was reached or files were unreadable), ``skipped``
        (``file``, ``reason``; the first 50) and ``skipped_count``, ``cache``
        (per-file cache hits and misses), ``summary``, ``highlights``.
    """
    ws = Workspace(path)
    target = file or first_file(inputs) or "."
    limits = current_limits(
        max_files=max_files, max_file_bytes=max_file_bytes, max_total_bytes=max_total_bytes
    )
    problems: list[dict[str, str]] = []
    sources = ((p, ws.relative(p)) for p in ws.walk(target, problems=problems) if p.suffix == ".py")
    scanned = scan(sources, _analyze_file, kind="analysis", limits=limits, problems=problems)
    per_file: list[dict[str, Any]] = []
    complex_functions: list[dict[str, Any]] = []
    long_functions: list[dict[str, Any]] = []
    todos: list[dict[str, Any]] = []
    errors: list[str] = []
    n_classes = n_functions = 0
    for rel, report in scanned.results:
        longs = [
            d
            for d in report["definitions"]
            if d["kind"] == "function" and d["lines"] > long_function_lines
        ]
        per_file.append({"file": rel, **report, "long_functions": longs})
        if report["syntax_error"]:
            errors.append(f"{rel}: {report['syntax_error']}")
        for d in report["definitions"]:
            if d["kind"] == "class":
                n_classes += 1
                continue
            n_functions += 1
            if d["complexity"] >= complexity_threshold:
                complex_functions.append({"file": rel, **d})
        long_functions.extend({"file": rel, **d} for d in longs)
        todos.extend({"file": rel, **t} for t in report["todos"])
    complex_functions.sort(key=lambda d: -d["complexity"])
    long_functions.sort(key=lambda d: -d["lines"])
    highlights = [
        f"{d['file']}:{d['line']} {d['name']} has complexity {d['complexity']}"
        for d in complex_functions[:5]
    ]
    highlights += [
        f"{d['file']}:{d['line']} {d['name']} is {d['lines']} lines long"
        for d in long_functions[:5]
    ]
    highlights += [f"{t['file']}:{t['line']} {t['tag']}: {t['text']}" for t in todos[:5]]
    highlights += [f"syntax error in {e}" for e in errors[:3]]
    summary = (
        f"{len(per_file)} Python files: {n_classes} classes, {n_functions} functions, "
        f"{len(complex_functions)} complex, {len(long_functions)} long, {len(todos)} TODOs"
    )
    if errors:
        summary += f", {len(errors)} with errors"
    summary += scanned.note()
    if scanned.truncated:
        highlights.insert(0, "TRUNCATED:" + scanned.note().split(":", 1)[1])
        highlights += [f"skipped {s['file']}: {s['reason']}" for s in scanned.skipped[:5]]
    return {
        **scanned.report(),
        "files": per_file,
        "complex_functions": complex_functions,
        "long_functions": long_functions,
        "todos": todos,
        "errors": errors,
        "totals": {
            "files": len(per_file),
            "files_seen": scanned.seen,
            "skipped": scanned.skipped_count,
            "classes": n_classes,
            "functions": n_functions,
            "complex": len(complex_functions),
            "long": len(long_functions),
            "todos": len(todos),
        },
        "summary": summary,
        "highlights": highlights,
    }
