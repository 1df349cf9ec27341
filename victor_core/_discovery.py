"""Entry-point discovery with an on-disk index.

Scanning installed distributions costs an import of ``importlib.metadata``
(tens of milliseconds) plus a read per distribution. The index records the
entry points of every ``victor_core.*`` group together with a key made of each
``sys.path`` entry and its modification time: installing, removing or
upgrading a distribution adds or removes a ``*.dist-info`` folder, which
changes its directory's modification time, so a warm start costs one
``stat`` per path entry and one small JSON read, whatever the number of
installed distributions.
"""

from __future__ import annotations

import json
import os
import sys

from pathlib import Path
from typing import Any, Iterable, NamedTuple

GROUP_PREFIX = "victor_core."
INDEX_VERSION = 1


class EntryRecord(NamedTuple):
    """One entry point of a ``victor_core.*`` group, as recorded in the index."""

    group: str
    name: str
    value: str
    dist_name: str
    dist_version: str

    @property
    def family(self) -> str:
        return self.group[len(GROUP_PREFIX) :]


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def path_key(paths: Iterable[str]) -> list[list[Any]]:
    """The validity key of an index: each path with its modification time."""
    return [[p, _mtime(p)] for p in paths]


def scan(paths: list[str]) -> list[EntryRecord]:
    """Read the ``victor_core.*`` entry points of every distribution on ``paths``.

    A distribution found twice (the same name on two path entries) counts once,
    the first one winning, as for imports.
    """
    import importlib.metadata as md

    seen: set[str] = set()
    records: list[EntryRecord] = []
    for dist in md.distributions(path=paths):
        try:
            text = dist.read_text("entry_points.txt")
        except OSError:  # pragma: no cover - unreadable metadata
            continue
        if not text or GROUP_PREFIX not in text:
            continue
        name = dist.metadata["Name"] or "?"
        key = name.lower().replace("_", "-").replace(".", "-")
        if key in seen:
            continue
        seen.add(key)
        version = dist.version or "?"
        for ep in dist.entry_points:
            if ep.group.startswith(GROUP_PREFIX):
                records.append(EntryRecord(ep.group, ep.name, ep.value, name, version))
    return records


class Discovery:
    """Entry points of the ``victor_core.*`` groups, through the index at ``index_path``.

    Args:
        index_path: the JSON index file; None keeps no index (always scans).
        paths: the import path to scan (default: ``sys.path`` at call time).
    """

    def __init__(self, index_path: Path | None, paths: list[str] | None = None) -> None:
        self.index_path = index_path
        self._paths = paths
        self.scanned = False  # whether the last load had to scan (for benchmarks and tests)
        self.warning: str | None = None

    def load(self) -> list[EntryRecord]:
        """The entry points, from a valid index if there is one, else by scanning."""
        paths = list(sys.path if self._paths is None else self._paths)
        key = path_key(paths)
        if self.index_path is not None:
            cached = self._read(key)
            if cached is not None:
                self.scanned = False
                return cached
        records = scan(paths)
        self.scanned = True
        if self.index_path is not None:
            self._write(key, records)
        return records

    def _read(self, key: list[list[Any]]) -> list[EntryRecord] | None:
        assert self.index_path is not None
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
            if data.get("version") != INDEX_VERSION or data.get("key") != key:
                return None
            return [EntryRecord(*map(str, row)) for row in data["entries"]]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            # A corrupt index is rebuilt, never fatal.
            self.warning = f"plugin index {str(self.index_path)!r} is unreadable ({exc}); rebuilt"
            return None

    def _write(self, key: list[list[Any]], records: list[EntryRecord]) -> None:
        assert self.index_path is not None
        document = {
            "version": INDEX_VERSION,
            "python": sys.version,
            "key": key,
            "entries": [list(r) for r in records],
        }
        try:
            self.index_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            import tempfile

            fd, tmp = tempfile.mkstemp(
                prefix=".plugin-index-", suffix=".tmp", dir=self.index_path.parent
            )
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(document, fh)
                os.replace(tmp, self.index_path)
            except BaseException:
                with _suppress_oserror():
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self.warning = (
                f"plugin index {str(self.index_path)!r} could not be written ({exc}); "
                "discovery will scan at every start"
            )


class _suppress_oserror:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return exc_type is not None and issubclass(exc_type, OSError)
