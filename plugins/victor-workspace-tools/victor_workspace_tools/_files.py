"""File tools: list files, read a file, search code, count lines by language."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from pathlib import Path
from typing import Any

from victor_core.exceptions import ToolParameterError

from victor_workspace_tools._workspace import Workspace, WorkspacePathError, is_binary

__all__ = ["count_lines", "list_files", "read_file", "search_code"]

_MAX_READ_BYTES = 200_000
_MAX_SEARCH_FILE_BYTES = 1_000_000

#: file suffix (or exact name) -> language, for line counts.
LANGUAGES: dict[str, str] = {
    ".py": "Python",
    ".pyi": "Python",
    ".js": "JavaScript",
    ".mjs": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".jsx": "JavaScript",
    ".go": "Go",
    ".rs": "Rust",
    ".java": "Java",
    ".kt": "Kotlin",
    ".c": "C",
    ".h": "C",
    ".cc": "C++",
    ".cpp": "C++",
    ".hpp": "C++",
    ".cs": "C#",
    ".rb": "Ruby",
    ".php": "PHP",
    ".sh": "Shell",
    ".bash": "Shell",
    ".md": "Markdown",
    ".rst": "reStructuredText",
    ".toml": "TOML",
    ".cfg": "INI",
    ".ini": "INI",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".json": "JSON",
    ".html": "HTML",
    ".css": "CSS",
    ".sql": "SQL",
    ".txt": "Text",
    "Makefile": "Makefile",
    "Dockerfile": "Dockerfile",
}

_COMMENT_PREFIXES: dict[str, tuple[str, ...]] = {
    "Python": ("#",),
    "Shell": ("#",),
    "Ruby": ("#",),
    "YAML": ("#",),
    "TOML": ("#",),
    "INI": ("#", ";"),
    "Makefile": ("#",),
    "Dockerfile": ("#",),
    "JavaScript": ("//",),
    "TypeScript": ("//",),
    "Go": ("//",),
    "Rust": ("//",),
    "Java": ("//",),
    "Kotlin": ("//",),
    "C": ("//",),
    "C++": ("//",),
    "C#": ("//",),
    "PHP": ("//", "#"),
    "SQL": ("--",),
}


def language_of(path: Path) -> str | None:
    """The language of ``path`` by its name, or None when unknown."""
    return LANGUAGES.get(path.name) or LANGUAGES.get(path.suffix.lower())


def list_files(
    path: str = ".",
    directory: str = ".",
    *,
    glob: str | None = None,
    max_files: int = 1000,
) -> dict[str, Any]:
    """List the workspace's files, skipping what ``.gitignore`` ignores.

    Args:
        path: the workspace root.
        directory: a directory inside the workspace to list (default: all of it).
        glob: a pattern the file's relative path or name must match (``*.py``).
        max_files: most files returned; ``truncated`` says when more exist.

    Returns:
        ``files`` (relative POSIX paths, sorted), ``count``, ``truncated``, ``summary``.
    """
    ws = Workspace(path)
    files: list[str] = []
    total = 0
    for file in ws.walk(directory):
        rel = ws.relative(file)
        if glob and not (fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(file.name, glob)):
            continue
        total += 1
        if len(files) < max_files:
            files.append(rel)
    suffixes = Counter(Path(f).suffix or Path(f).name for f in files)
    top = ", ".join(f"{n} {s}" for s, n in suffixes.most_common(3))
    return {
        "root": str(ws.root),
        "files": files,
        "count": total,
        "truncated": total > len(files),
        "summary": f"{total} files" + (f" ({top})" if top else ""),
        "highlights": files[:10],
    }


def read_file(
    file: str | None = None,
    path: str = ".",
    *,
    start_line: int = 1,
    end_line: int | None = None,
    max_bytes: int = _MAX_READ_BYTES,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Read a text file of the workspace, or a range of its lines.

    Args:
        file: the file, relative to the workspace; when omitted, the first
            file named by an earlier step's output (``inputs``).
        path: the workspace root.
        start_line: first line returned (1-based).
        end_line: last line returned (default: to the end).
        max_bytes: longest text returned; ``truncated`` says when cut.
        inputs: outputs of the steps this one depends on (in a plan).

    Returns:
        ``file``, ``text``, ``lines`` (the file's line count), ``truncated``, ``summary``.

    Raises:
        ToolParameterError: no file given and none found in ``inputs``.
        WorkspacePathError: the file is outside the workspace, missing, or a directory.
    """
    ws = Workspace(path)
    if not file:
        file = first_file(inputs)
    if not file:
        raise ToolParameterError("read_file needs a 'file' parameter (a path in the workspace)")
    target = ws.resolve(file)
    if not target.is_file():
        raise WorkspacePathError(f"path {file!r} is not a file in the workspace")
    if is_binary(target):
        return {
            "file": ws.relative(target),
            "text": "",
            "lines": 0,
            "binary": True,
            "truncated": False,
            "summary": f"{ws.relative(target)} is a binary file",
            "highlights": [],
        }
    lines = target.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    first = max(1, start_line)
    chosen = lines[first - 1 : end_line]
    text = "".join(chosen)
    truncated = len(text.encode("utf-8")) > max_bytes
    if truncated:
        text = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
    rel = ws.relative(target)
    return {
        "file": rel,
        "text": text,
        "lines": len(lines),
        "start_line": first,
        "end_line": first + len(chosen) - 1,
        "truncated": truncated,
        "binary": False,
        "summary": f"{rel}: {len(lines)} lines",
        "highlights": [line.rstrip() for line in chosen[:5] if line.strip()],
    }


def first_file(inputs: dict[str, Any] | None) -> str | None:
    """The first file path named in the outputs of earlier steps, if any."""
    for value in (inputs or {}).values():
        if not isinstance(value, dict):
            continue
        for match in value.get("matches") or ():
            if isinstance(match, dict) and match.get("file"):
                return str(match["file"])
        for item in value.get("files") or ():
            if isinstance(item, str):
                return item
            if isinstance(item, dict) and item.get("file"):
                return str(item["file"])
    return None


def search_code(
    pattern: str,
    path: str = ".",
    *,
    glob: str | None = None,
    context: int = 2,
    ignore_case: bool = False,
    max_matches: int = 200,
) -> dict[str, Any]:
    """Search the workspace's text files for a regular expression.

    Args:
        pattern: a Python regular expression.
        path: the workspace root.
        glob: only files whose relative path or name matches (``*.py``).
        context: lines shown before and after each match.
        ignore_case: match regardless of case.
        max_matches: most matches returned; ``truncated`` says when more exist.

    Returns:
        ``matches`` (each ``file``, ``line``, ``text``, ``before``, ``after``),
        ``files`` (files with a match, with counts), ``count``, ``summary``.

    Raises:
        ToolParameterError: ``pattern`` is not a valid regular expression.
    """
    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ToolParameterError(
            f"search_code: pattern {pattern!r} is not a valid regular expression ({exc})",
            tool="search_code",
        ) from None
    ws = Workspace(path)
    context = max(0, context)
    matches: list[dict[str, Any]] = []
    per_file: Counter[str] = Counter()
    total = 0
    for file in ws.walk():
        rel = ws.relative(file)
        if glob and not (fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(file.name, glob)):
            continue
        try:
            if file.stat().st_size > _MAX_SEARCH_FILE_BYTES or is_binary(file):
                continue
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for index, line in enumerate(lines):
            if not regex.search(line):
                continue
            total += 1
            per_file[rel] += 1
            if len(matches) < max_matches:
                matches.append(
                    {
                        "file": rel,
                        "line": index + 1,
                        "text": line,
                        "before": lines[max(0, index - context) : index],
                        "after": lines[index + 1 : index + 1 + context],
                    }
                )
    files = [{"file": f, "count": n} for f, n in per_file.most_common()]
    return {
        "pattern": pattern,
        "matches": matches,
        "files": files,
        "count": total,
        "truncated": total > len(matches),
        "summary": f"{total} matches of {pattern!r} in {len(per_file)} files",
        "highlights": [f"{m['file']}:{m['line']}: {m['text'].strip()}" for m in matches[:10]],
    }


def count_lines(path: str = ".", directory: str = ".") -> dict[str, Any]:
    """Count lines of code by language (total, code, comment and blank lines).

    Args:
        path: the workspace root.
        directory: a directory inside the workspace (default: all of it).

    Returns:
        ``languages`` (sorted by lines, each ``language``, ``files``, ``lines``,
        ``code``, ``comment``, ``blank``), ``total_lines``, ``total_files``, ``summary``.
    """
    ws = Workspace(path)
    stats: dict[str, dict[str, Any]] = {}
    for file in ws.walk(directory):
        language = language_of(file)
        if language is None:
            continue
        try:
            if file.stat().st_size > _MAX_SEARCH_FILE_BYTES or is_binary(file):
                continue
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        entry = stats.setdefault(
            language,
            {"language": language, "files": 0, "lines": 0, "code": 0, "comment": 0, "blank": 0},
        )
        prefixes = _COMMENT_PREFIXES.get(language, ())
        entry["files"] += 1
        entry["lines"] += len(lines)
        for line in lines:
            stripped = line.strip()
            if not stripped:
                entry["blank"] += 1
            elif prefixes and stripped.startswith(prefixes):
                entry["comment"] += 1
            else:
                entry["code"] += 1
    languages = sorted(stats.values(), key=lambda e: (-e["lines"], e["language"]))
    total = sum(e["lines"] for e in languages)
    files = sum(e["files"] for e in languages)
    top = ", ".join(f"{e['language']} {e['lines']}" for e in languages[:3])
    return {
        "languages": languages,
        "total_lines": total,
        "total_files": files,
        "summary": f"{total} lines in {files} files" + (f" ({top})" if top else ""),
        "highlights": [
            f"{e['language']}: {e['lines']} lines in {e['files']} files" for e in languages[:5]
        ],
    }
