"""The workspace: a root directory that every tool stays inside.

Paths given to the tools are resolved against the root and refused when they
leave it, whether by ``..`` or by a symbolic link pointing elsewhere. Walking
the tree honours ``.gitignore`` files with a small matcher that covers what
repositories use in practice (globs, ``**``, anchoring, directory-only
patterns and ``!`` negation).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

from victor_core.exceptions import ToolError

__all__ = ["GitIgnore", "Workspace", "WorkspacePathError"]

#: Directories skipped even without a ``.gitignore`` saying so: tool state, not source.
DEFAULT_IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".venv",
        "venv",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)

_BINARY_SNIFF = 8192


class WorkspacePathError(ToolError, ValueError):
    """A path that does not exist or lies outside the workspace."""


class _Rule:
    __slots__ = ("dir_only", "negate", "regex")

    def __init__(self, regex: re.Pattern[str], *, negate: bool, dir_only: bool) -> None:
        self.regex = regex
        self.negate = negate
        self.dir_only = dir_only


def _translate(pattern: str) -> str:
    """Translate a gitignore glob (without anchoring decisions) into a regex body."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        elif char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


class GitIgnore:
    """The rules of one ``.gitignore`` file, relative to the directory holding it.

    Args:
        lines: the file's lines.
        base: the directory of the file, relative to the workspace root
            (``""`` for the root), in POSIX form.
    """

    def __init__(self, lines: list[str], base: str = "") -> None:
        self.base = base.strip("/")
        self.rules: list[_Rule] = []
        for raw in lines:
            line = raw.rstrip("\n").rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            if line.startswith("\\"):
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            # A slash at the start or in the middle anchors the pattern to
            # the .gitignore's directory; otherwise it matches at any depth.
            anchored = "/" in line
            line = line.lstrip("/")
            body = _translate(line)
            regex = re.compile(f"^{body}$" if anchored else f"^(?:.*/)?{body}$")
            self.rules.append(_Rule(regex, negate=negate, dir_only=dir_only))

    @classmethod
    def read(cls, file: Path, base: str = "") -> GitIgnore:
        """Rules from ``file`` (an unreadable file gives no rules)."""
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return cls([], base)
        return cls(text.splitlines(), base)

    def match(self, relpath: str, *, is_dir: bool) -> bool | None:
        """Whether ``relpath`` (from the workspace root) is ignored; None when no rule speaks."""
        if self.base:
            prefix = self.base + "/"
            if not relpath.startswith(prefix):
                return None
            relpath = relpath[len(prefix) :]
        verdict: bool | None = None
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(relpath):
                verdict = not rule.negate
        return verdict


class Workspace:
    """A directory the tools work in, with paths confined to it.

    Args:
        path: the root directory (default: the current directory).

    Raises:
        WorkspacePathError: the root does not exist or is not a directory.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        given = Path(path) if path else Path.cwd()
        root = given.expanduser().resolve()
        if not root.exists():
            raise WorkspacePathError(f"workspace path {str(given)!r} does not exist")
        if not root.is_dir():
            raise WorkspacePathError(f"workspace path {str(given)!r} is not a directory")
        self.root = root

    def resolve(self, relpath: str | os.PathLike[str], *, must_exist: bool = True) -> Path:
        """The absolute path of ``relpath`` inside the workspace.

        Raises:
            WorkspacePathError: the path leaves the workspace (``..``, an
                absolute path elsewhere, or a link pointing outside), or does
                not exist when ``must_exist``.
        """
        candidate = Path(relpath).expanduser()
        if not candidate.is_absolute():
            candidate = self.root / candidate
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError) as exc:
            raise WorkspacePathError(
                f"path {str(relpath)!r} cannot be resolved ({_reason(exc, link=True)})"
            ) from None
        if not self.contains(resolved):
            raise WorkspacePathError(
                f"path {str(relpath)!r} is outside the workspace {str(self.root)!r}; "
                "give a path inside it"
            )
        if must_exist and not resolved.exists():
            raise WorkspacePathError(
                f"path {str(relpath)!r} does not exist in the workspace {str(self.root)!r}"
            )
        return resolved

    def contains(self, resolved: Path) -> bool:
        """Whether the already resolved ``resolved`` lies inside the root."""
        return resolved == self.root or self.root in resolved.parents

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, in POSIX form."""
        try:
            return path.relative_to(self.root).as_posix() or "."
        except ValueError:
            return path.as_posix()

    def walk(
        self,
        start: str | os.PathLike[str] = ".",
        *,
        respect_gitignore: bool = True,
        problems: list[dict[str, str]] | None = None,
    ) -> Iterator[Path]:
        """Yield the files under ``start``, sorted, skipping ignored ones and outside links.

        Symbolic links are not followed into directories; a linked file is
        yielded only when its target is inside the workspace. An entry that
        cannot be read (a directory without permission, a link loop, a
        broken link) is skipped, and reported in ``problems`` when given
        (``path`` and ``reason``), so one bad entry never fails the walk.
        """
        top = self.resolve(start)
        if _is_file(top):
            yield top
            return
        ignores: list[GitIgnore] = []
        if respect_gitignore and top != self.root:
            # The .gitignore files of the directories above ``top`` apply too.
            rel_top = top.relative_to(self.root)
            for parent in [Path("."), *reversed(rel_top.parents[:-1])]:
                gi = self.root / parent / ".gitignore"
                if _is_file(gi):
                    base = parent.as_posix()
                    ignores.append(GitIgnore.read(gi, "" if base == "." else base))
        report = problems if problems is not None else []
        yield from self._walk(top, ignores, respect_gitignore, report)

    def _walk(
        self,
        directory: Path,
        ignores: list[GitIgnore],
        respect: bool,
        problems: list[dict[str, str]],
    ) -> Iterator[Path]:
        rel_dir = directory.relative_to(self.root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            problems.append({"path": rel_dir or ".", "reason": _reason(exc)})
            return
        if respect and any(e.name == ".gitignore" for e in entries):
            ignores = [*ignores, GitIgnore.read(directory / ".gitignore", rel_dir)]
        subdirs: list[Path] = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError as exc:
                problems.append({"path": rel, "reason": _reason(exc)})
                continue
            if is_dir and (entry.name in DEFAULT_IGNORED_DIRS or entry.name.endswith(".egg-info")):
                continue
            if respect and self._ignored(ignores, rel, is_dir=is_dir):
                continue
            if is_dir:
                subdirs.append(Path(entry.path))
            elif is_link:
                try:
                    target = Path(entry.path).resolve(strict=True)
                except (OSError, RuntimeError) as exc:
                    # A link loop (a -> b -> a) or a dangling link.
                    problems.append({"path": rel, "reason": _reason(exc, link=True)})
                    continue
                if self.contains(target) and _is_file(target):
                    yield Path(entry.path)
            elif _entry_is_file(entry):
                yield Path(entry.path)
        for sub in subdirs:
            yield from self._walk(sub, ignores, respect, problems)

    @staticmethod
    def _ignored(ignores: list[GitIgnore], rel: str, *, is_dir: bool) -> bool:
        verdict = False
        for gi in ignores:
            result = gi.match(rel, is_dir=is_dir)
            if result is not None:
                verdict = result
        return verdict


def _reason(exc: BaseException, *, link: bool = False) -> str:
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(exc, FileNotFoundError) and link:
        return "broken symbolic link"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False instead of an error for an unreadable path."""
    try:
        return path.is_file()
    except OSError:
        return False


def _entry_is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def is_binary(path: Path) -> bool:
    """Whether ``path`` looks binary (a NUL byte in its first kilobytes)."""
    try:
        with path.open("rb") as fh:
            return b"\0" in fh.read(_BINARY_SNIFF)
    except OSError:
        return True
