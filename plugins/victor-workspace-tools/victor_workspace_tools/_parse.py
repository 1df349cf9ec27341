"""What the analysis tools compute for one file: pure functions of its text.

Everything here runs in worker processes too, so it imports only the
standard library and keeps its results JSON-shaped (they are cached).
"""

from __future__ import annotations

import ast
import re
from typing import Any

__all__ = ["analyze_source", "count_source_lines", "find_todos", "search_lines"]

_TODO = re.compile(r"\b(TODO|FIXME|XXX|HACK)\b[:\s]*(.*)")
# A file without any of the words has no TODO comment: most files stop here.
_TODO_ANY = re.compile(r"\b(?:TODO|FIXME|XXX|HACK)\b")

# A comment, or a string literal (skipped so that a '#' inside it is no comment).
# Triple-quoted strings first; the bodies are written unrolled (no per-character
# alternation) so that long docstrings are matched at C speed.
_COMMENT_OR_STRING = re.compile(
    r"""(\#[^\r\n]*)"""
    r'''|"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*(?:"""|\Z)'''
    r"""|'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*(?:'''|\Z)"""
    r"""|"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"?"""
    r"""|'[^'\\\r\n]*(?:\\.[^'\\\r\n]*)*'?""",
    re.DOTALL,
)

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
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def find_todos(source: str) -> list[dict[str, Any]]:
    """The TODO, FIXME, XXX and HACK comments of Python ``source``.

    Comments are found with one regular expression that also matches string
    literals, so a ``#`` inside a string (or a docstring) is not taken for a
    comment; the tokenizer would find the same comments, many times slower.

    Returns:
        Each ``line`` (1-based), ``tag`` and ``text``.
    """
    if _TODO_ANY.search(source) is None:
        return []
    found: list[dict[str, Any]] = []
    line, pos = 1, 0
    for match in _COMMENT_OR_STRING.finditer(source):
        comment = match.group(1)
        if comment is None:
            continue
        todo = _TODO.search(comment)
        if todo is None:
            continue
        start = match.start()
        line += source.count("\n", pos, start)
        pos = start
        found.append({"line": line, "tag": todo.group(1), "text": todo.group(2).strip()})
    return found


def analyze_source(
    source: str, filename: str = "<string>", *, long_lines: int = 50
) -> dict[str, Any]:
    """Analyse Python ``source`` in one walk of its syntax tree.

    Returns:
        ``definitions`` (each ``name``, ``kind``, ``line``, ``end_line``, ``lines``,
        and for functions ``complexity``, ``async``, ``docstring``), ``todos``
        (``line``, ``tag``, ``text``), ``long_functions``, ``syntax_error``
        (None or the message).
    """
    todos = find_todos(source)
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
    definitions = _definitions(tree)
    long_functions = [d for d in definitions if d["kind"] == "function" and d["lines"] > long_lines]
    return {
        "definitions": definitions,
        "todos": todos,
        "long_functions": long_functions,
        "syntax_error": None,
    }


def _definitions(tree: ast.AST) -> list[dict[str, Any]]:
    """Classes and functions with their complexity, from one depth-first walk.

    A function's complexity is 1 + its branches + its extra boolean operands;
    what nested functions, classes and lambdas contain counts for them, not
    for the function around them.
    """
    out: list[dict[str, Any]] = []
    # (node, qualified-name prefix, the entry of the function its branches count
    # for); popped in source order because children are pushed in reverse.
    stack: list[tuple[ast.AST, str, dict[str, Any] | None]] = [(tree, "", None)]
    iter_children = ast.iter_child_nodes
    while stack:
        node, prefix, owner = stack.pop()
        if isinstance(node, _DEFS):
            qualname = f"{prefix}{node.name}"
            end = getattr(node, "end_lineno", None) or node.lineno
            entry: dict[str, Any] = {
                "name": qualname,
                "kind": "class" if isinstance(node, ast.ClassDef) else "function",
                "line": node.lineno,
                "end_line": end,
                "lines": end - node.lineno + 1,
            }
            if isinstance(node, _FUNCS):
                entry["complexity"] = 1
                entry["async"] = isinstance(node, ast.AsyncFunctionDef)
                entry["docstring"] = ast.get_docstring(node) is not None
                owner = entry
            else:
                owner = None
            out.append(entry)
            prefix = qualname + "."
        children = list(iter_children(node))
        for child in reversed(children):
            child_owner = owner
            if owner is not None and not isinstance(child, _DEFS):
                if isinstance(child, _BRANCHES):
                    owner["complexity"] += 1
                    if isinstance(child, ast.comprehension):
                        owner["complexity"] += len(child.ifs)
                elif isinstance(child, ast.BoolOp):
                    owner["complexity"] += len(child.values) - 1
                elif isinstance(child, ast.Lambda):
                    child_owner = None
            stack.append((child, prefix, child_owner))
    return out


def count_source_lines(text: str, prefixes: tuple[str, ...]) -> dict[str, int]:
    """Total, code, comment and blank lines of ``text``.

    Args:
        prefixes: what starts a comment line in its language (none: no comment lines).
    """
    lines = text.splitlines()
    blank = comment = 0
    for line in lines:
        stripped = line.strip()
        if not stripped:
            blank += 1
        elif prefixes and stripped.startswith(prefixes):
            comment += 1
    return {
        "lines": len(lines),
        "code": len(lines) - blank - comment,
        "comment": comment,
        "blank": blank,
    }


def search_lines(
    text: str, pattern: str, flags: int, context: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """The lines of ``text`` matching ``pattern``: their count and the first ``limit``.

    Returns:
        ``(count, matches)``; each match has ``line``, ``text``, ``before``, ``after``.
    """
    regex = re.compile(pattern, flags)
    if regex.search(text) is None:
        return 0, []
    lines = text.splitlines()
    count = 0
    matches: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        if not regex.search(line):
            continue
        count += 1
        if len(matches) < limit:
            matches.append(
                {
                    "line": index + 1,
                    "text": line,
                    "before": lines[max(0, index - context) : index],
                    "after": lines[index + 1 : index + 1 + context],
                }
            )
    return count, matches
