"""File tools: list files, read a file, search code, count lines by language."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
from victor_core.exceptions import ToolParameterError

from victor_workspace_tools._parse import count_source_lines, search_lines
from victor_workspace_tools._scan import current_limits, read_limited, scan
from victor_workspace_tools._workspace import Workspace, WorkspacePathError, is_binary

__all__ = ["count_lines", "list_files", "read_file", "search_code"]

_MAX_READ_BYTES = 200_000

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
    problems: list[dict[str, str]] = []
    for file in ws.walk(directory, problems=problems):
        rel = ws.relative(file)
        if glob and not (fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(file.name, glob)):
            continue
        total += 1
        if len(files) < max_files:
            files.append(rel)
    suffixes = Counter(Path(f).suffix or Path(f).name for f in files)
    top = ", ".join(f"{n} {s}" for s, n in suffixes.most_common(3))
    summary = f"{total} files" + (f" ({top})" if top else "")
    highlights = files[:10]
    if total > len(files):
        summary += f"; TRUNCATED: {len(files)} of {total} listed (max_files={max_files})"
        highlights = [f"TRUNCATED: {len(files)} of {total} files listed", *highlights]
    if problems:
        summary += f"; {len(problems)} unreadable entries skipped"
        highlights += [f"skipped {p['path']}: {p['reason']}" for p in problems[:5]]
    return {
        "root": str(ws.root),
        "files": files,
        "count": total,
        "listed": len(files),
        "truncated": total > len(files) or bool(problems),
        "skipped": [{"file": p["path"], "reason": p["reason"]} for p in problems[:50]],
        "skipped_count": len(problems),
        "summary": summary,
        "highlights": highlights,
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
    limit = current_limits().max_file_bytes
    rel = ws.relative(target)
    first = max(1, start_line)
    size = target.stat().st_size
    if size > limit:
        # Too large to read whole: stream the wanted lines, never more than max_bytes.
        chosen, count = _stream_lines(target, first, end_line, max_bytes, budget=limit)
        text = "".join(chosen)
        return {
            "file": rel,
            "text": text,
            "lines": None,
            "start_line": first,
            "end_line": first + len(chosen) - 1,
            "truncated": True,
            "binary": False,
            "size": size,
            "summary": f"{rel}: {size} bytes, over analysis_max_file_bytes={limit}; "
            f"TRUNCATED: showing {len(chosen)} lines from line {first}",
            "highlights": [f"TRUNCATED: {rel} is {size} bytes; {count} lines read"],
        }
    data = read_limited(target, limit)
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    chosen = lines[first - 1 : end_line]
    text = "".join(chosen)
    truncated = len(text.encode("utf-8")) > max_bytes
    if truncated:
        text = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
    return {
        "file": rel,
        "text": text,
        "lines": len(lines),
        "start_line": first,
        "end_line": first + len(chosen) - 1,
        "truncated": truncated,
        "binary": False,
        "summary": f"{rel}: {len(lines)} lines"
        + (f"; TRUNCATED to {max_bytes} bytes" if truncated else ""),
        "highlights": [line.rstrip() for line in chosen[:5] if line.strip()],
    }


def _stream_lines(
    target: Path, first: int, end_line: int | None, max_bytes: int, *, budget: int
) -> tuple[list[str], int]:
    """Lines ``first``..``end_line`` of a large file, at most ``max_bytes`` of them, read lazily.

    At most ``budget`` characters are read to reach ``first``.
    """
    chosen: list[str] = []
    used = skipped = 0
    number = 0
    with target.open("r", encoding="utf-8", errors="replace") as fh:
        while True:
            # A bounded readline: a 2 GB file of one line is never read whole.
            line = fh.readline(max_bytes + 1)
            if not line:
                break
            number += 1
            if number < first:
                skipped += len(line)
                if skipped > budget:
                    break
                continue
            if end_line is not None and number > end_line:
                break
            used += len(line.encode("utf-8"))
            if used > max_bytes:
                break
            chosen.append(line)
    return chosen, number


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
        re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ToolParameterError(
            f"search_code: pattern {pattern!r} is not a valid regular expression ({exc})",
            tool="search_code",
        ) from None
    ws = Workspace(path)
    context = max(0, context)
    flags = re.IGNORECASE if ignore_case else 0
    problems: list[dict[str, str]] = []
    chosen = (
        (file, rel)
        for file in ws.walk(problems=problems)
        for rel in (ws.relative(file),)
        if not glob or fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(file.name, glob)
    )
    # Matches depend on the pattern: nothing worth keeping in the per-file cache.
    limits = attrs.evolve(current_limits(), cache_dir=None)
    scanned = scan(
        chosen,
        _search_file,
        kind="search",
        options=(pattern, flags, context, max_matches),
        limits=limits,
        problems=problems,
    )
    matches: list[dict[str, Any]] = []
    per_file: Counter[str] = Counter()
    total = 0
    for rel, found in scanned.results:
        if not found["count"]:
            continue
        total += found["count"]
        per_file[rel] += found["count"]
        room = max_matches - len(matches)
        matches.extend({"file": rel, **m} for m in found["matches"][:room])
    files = [{"file": f, "count": n} for f, n in per_file.most_common()]
    # Binary files are not text to search: not a truncation.
    report = scanned.report()
    binary = sum(1 for item in scanned.skipped if item["reason"] == "binary")
    report["skipped_count"] -= binary
    report["skipped"] = [i for i in report["skipped"] if i["reason"] != "binary"]
    truncated = total > len(matches) or report["skipped_count"] > 0
    summary = f"{total} matches of {pattern!r} in {len(per_file)} files"
    highlights = [f"{m['file']}:{m['line']}: {m['text'].strip()}" for m in matches[:10]]
    if total > len(matches):
        summary += f"; TRUNCATED: showing {len(matches)} of {total} matches"
        highlights.insert(0, f"TRUNCATED: {len(matches)} of {total} matches shown")
    if report["skipped_count"]:
        summary += f"; {report['skipped_count']} files skipped"
        highlights += [f"skipped {i['file']}: {i['reason']}" for i in report["skipped"][:5]]
    return {
        **report,
        "pattern": pattern,
        "matches": matches,
        "files": files,
        "count": total,
        "shown": len(matches),
        "truncated": truncated,
        "summary": summary,
        "highlights": highlights,
    }


def _search_file(text: str, options: Any) -> dict[str, Any]:
    pattern, flags, context, limit = options
    count, matches = search_lines(text, pattern, flags, context, limit)
    return {"count": count, "matches": matches}


#: Comment markers whose line counts each file's result holds (a language sums its own).
_ALL_PREFIXES = ("#", "//", ";", "--")


def _count_file(text: str, options: Any) -> dict[str, Any]:
    stats: dict[str, Any] = count_source_lines(text, ())
    comments = {}
    for prefix in _ALL_PREFIXES:
        comments[prefix] = count_source_lines(text, (prefix,))["comment"]
    stats["comments"] = comments
    return stats


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
    problems: list[dict[str, str]] = []
    known = (
        (file, ws.relative(file))
        for file in ws.walk(directory, problems=problems)
        if language_of(file) is not None
    )
    scanned = scan(known, _count_file, kind="lines", limits=current_limits(), problems=problems)
    for rel, counted in scanned.results:
        language = language_of(Path(rel)) or "?"
        entry = stats.setdefault(
            language,
            {"language": language, "files": 0, "lines": 0, "code": 0, "comment": 0, "blank": 0},
        )
        comment = sum(counted["comments"].get(p, 0) for p in _COMMENT_PREFIXES.get(language, ()))
        entry["files"] += 1
        entry["lines"] += counted["lines"]
        entry["blank"] += counted["blank"]
        entry["comment"] += comment
        entry["code"] += counted["lines"] - counted["blank"] - comment
    languages = sorted(stats.values(), key=lambda e: (-e["lines"], e["language"]))
    total = sum(e["lines"] for e in languages)
    files = sum(e["files"] for e in languages)
    top = ", ".join(f"{e['language']} {e['lines']}" for e in languages[:3])
    highlights = [
        f"{e['language']}: {e['lines']} lines in {e['files']} files" for e in languages[:5]
    ]
    if scanned.truncated:
        highlights.insert(0, "TRUNCATED:" + scanned.note().split(":", 1)[1])
    return {
        **scanned.report(),
        "languages": languages,
        "total_lines": total,
        "total_files": files,
        "summary": f"{total} lines in {files} files"
        + (f" ({top})" if top else "")
        + scanned.note(),
        "highlights": highlights,
    }
