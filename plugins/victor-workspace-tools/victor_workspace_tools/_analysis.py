"""Static analysis of Python code with :mod:`ast`.

It finds definitions, a cyclomatic-style complexity, long functions and TODO comments.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path
from typing import Any

from victor_workspace_tools._files import first_file
from victor_workspace_tools._workspace import Workspace

__all__ = ["analyze_code", "analyze_source"]

_TODO = re.compile(r"\b(TODO|FIXME|XXX|HACK)\b[:\s]*(.*)")

# Nodes that open one more path through a function (a cyclomatic-style count).
_BRANCHES: tuple[type[ast.AST], ...] = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ExceptHandler,
    ast.IfExp,
    ast.Assert,
    ast.comprehension,
    *((ast.match_case,) if hasattr(ast, "match_case") else ()),
)

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def complexity(node: ast.AST) -> int:
    """Cyclomatic-style complexity of a function: 1 + branches + extra boolean operands.

    Nested functions and classes count on their own, not in their parent.
    """
    score = 1
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, (*_FUNCS, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(child, _BRANCHES):
            score += 1
            if isinstance(child, ast.comprehension):
                score += len(child.ifs)
        elif isinstance(child, ast.BoolOp):
            score += len(child.values) - 1
        stack.extend(ast.iter_child_nodes(child))
    return score


def analyze_source(
    source: str, filename: str = "<string>", *, long_lines: int = 50
) -> dict[str, Any]:
    """Analyse Python ``source``.

    Returns:
        ``definitions`` (each ``name``, ``kind``, ``line``, ``end_line``, ``lines``,
        ``complexity`` for functions), ``todos`` (``line``, ``tag``, ``text``),
        ``long_functions``, ``syntax_error`` (None or the message).
    """
    todos = _todos(source)
    try:
        tree = ast.parse(source, filename=filename)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        return {
            "definitions": [],
            "todos": todos,
            "long_functions": [],
            "syntax_error": f"line {line}: {exc.args[0] if exc.args else exc}",
        }
    definitions: list[dict[str, Any]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (*_FUNCS, ast.ClassDef)):
                qualname = f"{prefix}{child.name}"
                end = getattr(child, "end_lineno", child.lineno) or child.lineno
                entry: dict[str, Any] = {
                    "name": qualname,
                    "kind": "class" if isinstance(child, ast.ClassDef) else "function",
                    "line": child.lineno,
                    "end_line": end,
                    "lines": end - child.lineno + 1,
                }
                if isinstance(child, _FUNCS):
                    entry["complexity"] = complexity(child)
                    entry["async"] = isinstance(child, ast.AsyncFunctionDef)
                    entry["docstring"] = ast.get_docstring(child) is not None
                definitions.append(entry)
                visit(child, qualname + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    long_functions = [d for d in definitions if d["kind"] == "function" and d["lines"] > long_lines]
    return {
        "definitions": definitions,
        "todos": todos,
        "long_functions": long_functions,
        "syntax_error": None,
    }


def _todos(source: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                match = _TODO.search(tok.string)
                if match:
                    tag, text = match.group(1), match.group(2).strip()
                    found.append({"line": tok.start[0], "tag": tag, "text": text})
    except (tokenize.TokenError, SyntaxError, IndentationError):
        # Broken code still gets its TODOs found line by line.
        for number, line in enumerate(source.splitlines(), 1):
            if "#" in line:
                match = _TODO.search(line.split("#", 1)[1])
                if match:
                    found.append({"line": number, "tag": match.group(1), "text": match.group(2)})
    return found


def analyze_code(
    path: str = ".",
    file: str | None = None,
    *,
    long_function_lines: int = 50,
    complexity_threshold: int = 10,
    max_files: int = 500,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Analyse the workspace's Python code (or one file).

    Args:
        path: the workspace root.
        file: a Python file or directory inside the workspace (default: the
            whole workspace; or a file named by an earlier step's ``inputs``).
        long_function_lines: functions longer than this are reported.
        complexity_threshold: functions at least this complex are reported.
        max_files: most files analysed.
        inputs: outputs of the steps this one depends on (in a plan).

    Returns:
        ``files`` (per file: ``file``, ``definitions``, ``todos``, ``syntax_error``),
        ``complex_functions``, ``long_functions``, ``todos``, ``totals``, ``summary``.
    """
    ws = Workspace(path)
    target = file or first_file(inputs) or "."
    sources = [p for p in ws.walk(target) if p.suffix == ".py"][:max_files]
    per_file: list[dict[str, Any]] = []
    complex_functions: list[dict[str, Any]] = []
    long_functions: list[dict[str, Any]] = []
    todos: list[dict[str, Any]] = []
    errors: list[str] = []
    n_classes = n_functions = 0
    for source_file in sources:
        rel = ws.relative(source_file)
        try:
            text = Path(source_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            errors.append(f"{rel}: {exc}")
            continue
        report = analyze_source(text, rel, long_lines=long_function_lines)
        per_file.append({"file": rel, **report})
        if report["syntax_error"]:
            errors.append(f"{rel}: {report['syntax_error']}")
        for d in report["definitions"]:
            if d["kind"] == "class":
                n_classes += 1
                continue
            n_functions += 1
            if d["complexity"] >= complexity_threshold:
                complex_functions.append({"file": rel, **d})
        long_functions.extend({"file": rel, **d} for d in report["long_functions"])
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
    return {
        "files": per_file,
        "complex_functions": complex_functions,
        "long_functions": long_functions,
        "todos": todos,
        "errors": errors,
        "totals": {
            "files": len(per_file),
            "classes": n_classes,
            "functions": n_functions,
            "complex": len(complex_functions),
            "long": len(long_functions),
            "todos": len(todos),
        },
        "summary": summary,
        "highlights": highlights,
    }
