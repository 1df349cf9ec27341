"""Entry-point discovery with an on-disk index.

Scanning installed distributions costs an import of ``importlib.metadata``
(tens of milliseconds) plus a read per distribution. The index records the
entry points of every ``victor_core.*`` group together with a key made of each
``sys.path`` entry and its modification time: installing, removing or
upgrading a distribution adds or removes a ``*.dist-info`` folder, which
changes its directory's modification time, so a warm start costs one
``stat`` per path entry and one small JSON read, whatever the number of
installed distributions.

The key includes ``sys.path[0]``, which differs between ways of starting
Python (the script's folder for ``victor``, the working directory for
``python -m``, ``''`` for ``python -c``). The index therefore keeps one slot
per recent key (up to :data:`MAX_SLOTS`, the most recently written first),
so alternating between them reads a valid slot instead of rescanning and
rewriting the file at every start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

GROUP_PREFIX = "victor_core."
#: The group whose entry points name a new family (entry-point name) and the
#: module holding its hookspecs (entry-point value).
HOOKSPECS_GROUP = GROUP_PREFIX + "hookspecs"
INDEX_VERSION = 1
#: Keys (import paths) remembered in one index file.
MAX_SLOTS = 8


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


_META_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".pth", ".egg")


def _listing(path: str) -> str:
    """The names on ``path`` that can make or change a distribution, as one string."""
    try:
        names = os.listdir(path or ".")
    except OSError:
        return ""
    return "\n".join(sorted(n for n in names if n.endswith(_META_SUFFIXES)))


def path_key(paths: Iterable[str]) -> list[list[Any]]:
    """The validity key of an index: each path with its modification time and listing."""
    return [[p, _mtime(p), None] for p in paths]


def _still_valid(recorded: Any, current: list[list[Any]]) -> bool:
    """Whether an index recorded with key ``recorded`` holds for the ``current`` paths.

    A path whose directory changed (other files come and go, as in a working
    directory on ``sys.path``) still matches when its distribution-related
    names are the same; only then is the directory listed.
    """
    if not isinstance(recorded, list) or len(recorded) != len(current):
        return False
    for old, new in zip(recorded, current, strict=True):
        if not isinstance(old, list) or len(old) != 3 or old[0] != new[0]:
            return False
        if old[1] == new[1]:
            new[2] = old[2]
            continue
        listing = _listing(new[0])
        if old[1] is None or new[1] is None or old[2] != listing:
            return False
        new[2] = listing
    return True


def _same_paths(recorded: Any, key: list[list[Any]]) -> bool | None:
    """Whether a slot's key names the same paths as ``key`` (None: not a key)."""
    if not isinstance(recorded, list):
        return None
    try:
        return [item[0] for item in recorded] == [item[0] for item in key]
    except (TypeError, IndexError, KeyError):
        return None


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
        self._slots: list[Any] = []  # the slots of the index last read

    def load(self) -> list[EntryRecord]:
        """The entry points, from a valid index if there is one, else by scanning."""
        paths = list(sys.path if self._paths is None else self._paths)
        key = path_key(paths)
        index = self.index_path
        if index is not None:
            cached = self._read(index, key)
            if cached is not None:
                self.scanned = False
                return cached
        records = scan(paths)
        self.scanned = True
        if index is not None:
            for item in key:
                item[2] = _listing(item[0])
            self._write(index, key, records)
        return records

    def _read(self, index: Path, key: list[list[Any]]) -> list[EntryRecord] | None:
        import json  # only when plugins are first needed, not at construction

        self._slots = []
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            if data.get("version") != INDEX_VERSION:
                return None
            slots = [data, *(data.get("others") or [])]
            self._slots = slots
            for slot in slots:
                recorded = slot.get("key")
                candidate = [list(item) for item in key]
                if recorded != candidate and not _still_valid(recorded, candidate):
                    continue
                records = [EntryRecord(*map(str, row)) for row in slot["entries"]]
                key[:] = candidate
                if recorded != key:
                    # Only unrelated files changed: refresh the times so that the
                    # next start is back to one stat per path entry.
                    self._write(index, key, records)
                return records
            return None
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # A corrupt index is rebuilt, never fatal.
            self._slots = []
            self.warning = f"plugin index {str(index)!r} is unreadable ({exc}); rebuilt"
            return None

    def _write(self, index: Path, key: list[list[Any]], records: list[EntryRecord]) -> None:
        # The slot written goes first; the other recent keys follow, the
        # oldest dropped past MAX_SLOTS.
        others = [
            {"key": slot.get("key"), "entries": slot.get("entries")}
            for slot in self._slots
            if isinstance(slot, dict) and _same_paths(slot.get("key"), key) is False
        ][: MAX_SLOTS - 1]
        document = {
            "version": INDEX_VERSION,
            "python": sys.version,
            "key": key,
            "entries": [list(r) for r in records],
            "others": others,
        }
        try:
            index.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            import tempfile

            fd, tmp = tempfile.mkstemp(prefix=".plugin-index-", suffix=".tmp", dir=index.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    import json

                    json.dump(document, fh)
                os.replace(tmp, index)
            except BaseException:
                with _suppress_oserror():
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self.warning = (
                f"plugin index {str(index)!r} could not be written ({exc}); "
                "discovery will scan at every start"
            )


class _suppress_oserror:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return exc_type is not None and issubclass(exc_type, OSError)


def default_index_name() -> str:
    """The discovery index's file name for this interpreter (one per ``sys.prefix``).

    Two virtual environments sharing a cache directory then each keep a valid
    index instead of rescanning every time the other one ran.
    """
    # 64-bit FNV-1a: stable across runs (unlike hash()) and without hashlib's
    # few milliseconds of import at start-up.
    value = 0xCBF29CE484222325
    for byte in sys.prefix.encode("utf-8", "surrogatepass"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"plugin-index-{value:016x}.json"


#: ``(cache_dir, sys.prefix) -> index path``: the same for every manager of a process.
_INDEX_PATHS: dict[tuple[Path, str], Path] = {}


def default_index_path(cache_dir: Path) -> Path:
    """``cache_dir / default_index_name()``, remembered per cache folder and prefix."""
    key = (cache_dir, sys.prefix)
    path = _INDEX_PATHS.get(key)
    if path is None:
        if len(_INDEX_PATHS) > 64:
            _INDEX_PATHS.clear()
        path = _INDEX_PATHS[key] = Path(cache_dir) / default_index_name()
    return path
