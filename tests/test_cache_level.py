"""The shared-level seam of TieredCache: the protocol, the disk level and its faults."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import victor_core.cache
from victor_core.cache import CacheLevel, InvalidationCallback, TieredCache, keys
from victor_core.exceptions import CacheError

PACKAGE = Path(victor_core.cache.__file__).parent.parent


class MemoryLevel:
    """A dict-backed level: what a third-party backend implements."""

    backend = "memory"

    def __init__(self, retry_after: float | None = 0.0) -> None:
        self.retry_after = retry_after
        self.rows: dict[str, tuple[bytes, float | None]] = {}
        self.totals = {"hits": 0, "misses": 0, "evictions": 0}
        self.broken = False
        self.callbacks: list[InvalidationCallback] = []
        self.closed = 0

    def _check(self) -> None:
        if self.broken:
            raise ConnectionError("level is down")

    def get(self, key: str) -> tuple[bytes, float | None] | None:
        self._check()
        return self.rows.get(key)

    def set_many(
        self,
        entries: Sequence[tuple[str, bytes]],
        expires: float | None,
        max_size: int,
        ttl: float | None = None,
    ) -> list[str]:
        self._check()
        for key, blob in entries:
            self.rows.pop(key, None)
            self.rows[key] = (blob, expires)
        evicted = list(self.rows)[: max(0, len(self.rows) - max_size)]
        for key in evicted:
            del self.rows[key]
        return evicted

    def delete(self, key: str) -> bool:
        self._check()
        return self.rows.pop(key, None) is not None

    def delete_matching(self, pattern: str) -> list[str]:
        self._check()
        gone = keys.matching_keys(pattern, list(self.rows))
        for key in gone:
            del self.rows[key]
        return sorted(gone)

    def clear_expired(self, now: float) -> list[str]:
        self._check()
        gone = [k for k, (_, e) in self.rows.items() if e is not None and e <= now]
        for key in gone:
            del self.rows[key]
        return gone

    def clear(self) -> int:
        self._check()
        count = len(self.rows)
        self.rows.clear()
        return count

    def size(self) -> int:
        self._check()
        return len(self.rows)

    def stats(self) -> dict[str, int]:
        self._check()
        return dict(self.totals)

    def add_stats(self, hits: int, misses: int, evictions: int) -> None:
        self._check()
        for name, delta in zip(self.totals, (hits, misses, evictions), strict=True):
            self.totals[name] += delta

    def watch(self, callback: InvalidationCallback) -> None:
        self.callbacks.append(callback)

    def describe(self) -> dict[str, Any]:
        return {"where": "a dict"}

    def close(self) -> None:
        self.closed += 1


def test_memory_level_satisfies_the_protocol() -> None:
    level: CacheLevel = MemoryLevel()  # mypy checks the shape; this checks it is usable
    assert level.backend == "memory"


def test_an_injected_level_is_the_shared_level(clock: Any) -> None:
    level = MemoryLevel()
    cache = TieredCache("t", level=level, max_size=2, ttl=60, clock=clock)
    cache.set("a", {"x": 1})
    cache.set("b", b"raw")
    assert level.rows["a"][0] == b'\x01{"x":1}'  # the same safe framing as the disk level
    assert level.rows["a"][1] == clock() + 60
    cache.set("c", 3)  # over max_size: the level evicts "a", and L1 forgets it too
    assert sorted(level.rows) == ["b", "c"]
    fresh = TieredCache("t", level=level, max_size=2, ttl=60, clock=clock)
    assert fresh.get("b") == b"raw"
    assert fresh.get("a") is None
    stats = fresh.stats()
    assert stats["l2"] | {"backend": "memory", "where": "a dict", "available": True} == stats["l2"]
    assert stats["l2"]["hits"] == 1
    cache.close()
    fresh.close()
    assert level.totals["hits"] == 1  # flushed on close
    assert level.closed == 2


def test_other_processes_invalidations_reach_l1_through_watch(clock: Any) -> None:
    level = MemoryLevel()
    cache = TieredCache("t", level=level, ttl=60, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2)
    (callback,) = level.callbacks
    level.rows["a"] = (b"\x017", None)  # written elsewhere...
    callback(["a"])  # ...and announced
    assert cache.get("a") == 7
    callback(None)
    assert cache.stats()["l1"]["current_size"] == 0


def test_a_failing_level_degrades_to_misses_with_one_warning_then_recovers(clock: Any) -> None:
    level = MemoryLevel(retry_after=0.0)
    cache = TieredCache("t", level=level, ttl=60, clock=clock)
    cache.set("a", 1)
    level.broken = True
    with capture_logs() as logs:
        other = TieredCache("t", level=level, ttl=60, clock=clock)
        assert other.get("a") is None
        assert other.get("a") is None
        other.set("b", 2)  # kept in memory
        assert other.get("b") == 2
        assert other.invalidate("*") == 1
        level.broken = False
        assert other.get("a") == 1
    events = [log["event"] for log in logs]
    assert events.count("cache_memory_unavailable") == 1
    assert "cache_level_recovered" in events
    warning = next(log for log in logs if log["event"] == "cache_memory_unavailable")
    assert "ConnectionError: level is down" in warning["error"]


def test_a_level_that_is_never_retried_stays_off(clock: Any) -> None:
    level = MemoryLevel(retry_after=None)
    level.broken = True
    cache = TieredCache("t", level=level, ttl=60, clock=clock)
    with capture_logs():
        assert cache.get("a") is None
    level.broken = False
    level.rows["a"] = (b"\x011", None)
    assert cache.get("a") is None
    assert cache.stats()["l2"]["available"] is False


# -- keys --------------------------------------------------------------------------------


def test_key_builders_live_in_the_public_keys_module() -> None:
    from victor_core.cache import _manager

    for name in ("tool_selection_key", "response_key", "embedding_key"):
        assert getattr(victor_core.cache, name) is getattr(keys, name)
        assert getattr(_manager, name) is getattr(keys, name)
    vector = [0.5, -1.0, 2.25]
    assert keys.decode_vector(keys.encode_vector(vector)) == vector


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [("query:auth*", "query:auth"), ("*auth*", ""), ("a?b", "a"), ("x[y", "x"), ("plain", "plain")],
)
def test_glob_prefix(pattern: str, prefix: str) -> None:
    assert keys.glob_prefix(pattern) == prefix


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("a[b", {"a[b"}),  # an unclosed "[" is a literal, as in fnmatch
        ("a[bc]", {"ab"}),
        ("a[!b]", {"a["}),
        ("*[*", {"a[b", "a["}),
        ("a*", {"a[b", "ab", "a["}),
        ("ab", {"ab"}),
    ],
)
def test_matching_keys_follows_fnmatch(pattern: str, expected: set[str]) -> None:
    assert keys.matching_keys(pattern, ["a[b", "ab", "a[", "zz"]) == expected
    assert keys.matching_keys(pattern, {"a[b", "ab", "a[", "zz"}) == expected


# -- the disk level ----------------------------------------------------------------------


def test_unclosed_bracket_removes_exactly_what_it_reports(tmp_path: Path, clock: Any) -> None:
    """A "[" without "]" matches itself in both levels; the count is what went."""
    cache = TieredCache("t", directory=tmp_path / "c", ttl=60, clock=clock)
    cache.set_many({"auth[v1": 1, "auth[v2": 2, "authv1": 3})
    assert cache.invalidate("auth[v1") == 1
    fresh = TieredCache("t", directory=tmp_path / "c", ttl=60, clock=clock)
    assert fresh.get("auth[v1") is None  # gone from disk, not only from memory
    assert fresh.get("authv1") == 3
    assert fresh.invalidate("auth[*") == 1  # only on disk now, still counted right
    assert fresh.invalidate("auth[*") == 0
    assert fresh.stats()["current_size"] == 1
    cache.close()
    fresh.close()


def test_glob_over_disk_uses_the_same_semantics(tmp_path: Path, clock: Any) -> None:
    cache = TieredCache("t", directory=tmp_path / "c", ttl=60, clock=clock)
    cache.set_many({"q:a[b": 1, "q:ab": 2, "q:a[": 3, "r:ab": 4})
    cache.close()  # L1 empty: every removal below comes from the disk
    assert cache.invalidate("q:a[!b]") == 1
    assert cache.invalidate("*ab") == 2
    assert cache.get("q:a[b") == 1
    cache.close()


def test_only_the_disk_module_reaches_diskcache_private_sql() -> None:
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\._sql\b", path.read_text(encoding="utf-8"))
    )
    assert users == ["cache/_disk.py"]


def test_diskcache_internals_we_rely_on_are_unchanged(tmp_path: Path) -> None:
    """Pins diskcache's private surface used by victor_core/cache/_disk.py.

    A diskcache release that changes any of these must be looked at before
    victor-core accepts it: the disk level reads rows, counts and trims with
    ``_sql``, and bounds diskcache's own retry loops through ``_sql``,
    ``_sql_retry`` and ``reset``.
    """
    import inspect

    import diskcache

    assert diskcache.__version__.split(".")[0] == "5"
    for name in ("_sql", "_sql_retry", "_con"):
        assert isinstance(inspect.getattr_static(diskcache.Cache, name), property), name
    assert "self._sql" in inspect.getsource(diskcache.Cache.reset)
    assert "_sql_retry" in inspect.getsource(diskcache.Cache.__init__)
    store = diskcache.Cache(str(tmp_path / "d"), tag_index=1)
    try:
        columns = {row[1] for row in store._sql("PRAGMA table_info(Cache)").fetchall()}
        assert {"key", "raw", "tag", "mode", "filename", "value", "store_time"} <= columns
        store.set("k", b"v")
        assert store._sql('SELECT value FROM Settings WHERE key = "count"').fetchall() == [(1,)]
    finally:
        store.close()


_LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    con = sqlite3.connect(sys.argv[1], isolation_level=None)
    con.execute("PRAGMA locking_mode=EXCLUSIVE")
    con.execute("BEGIN EXCLUSIVE")
    con.execute("CREATE TABLE IF NOT EXISTS Held (x)")
    con.execute("COMMIT")
    print("locked", flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("existing", [True, False])
def test_exclusively_locked_database_degrades_within_the_timeout(
    tmp_path: Path, clock: Any, existing: bool
) -> None:
    """Another process holds the database with locking_mode=EXCLUSIVE.

    diskcache's own retry loops (60 s) are bounded by the cache's timeout:
    the lookup returns a miss (and a set stays in memory) with one warning.
    """
    directory = tmp_path / "c"
    if existing:
        with TieredCache("t", directory=directory, clock=clock) as cache:
            cache.set("k", "v")
    else:
        directory.mkdir()
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(directory / "cache.db")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        outcome: dict[str, Any] = {}
        with capture_logs() as logs:
            cache = TieredCache("t", directory=directory, clock=clock, timeout=0.3)

            def use() -> None:
                outcome["get"] = cache.get("k", "miss")
                cache.set("n", 1)
                outcome["n"] = cache.get("n")

            worker = threading.Thread(target=use, daemon=True)
            worker.start()
            # Far below diskcache's own 60 s: the bound, not a speed check.
            worker.join(timeout=30)
            assert not worker.is_alive(), "the cache waited on the lock past its timeout"
        assert outcome == {"get": "miss", "n": 1}
        warnings = [log for log in logs if log["event"] == "cache_disk_unavailable"]
        assert len(warnings) == 1
        assert "locked" in warnings[0]["error"]
        cache.close()
    finally:
        os.kill(locker.pid, signal.SIGKILL)
        locker.wait()
        if locker.stdout is not None:
            locker.stdout.close()


def test_unknown_backend_is_a_clear_error(tmp_path: Path) -> None:
    from victor_core.cache import CacheManager
    from victor_core.settings import Settings

    settings = Settings(cache_dir=tmp_path, cache_backend="memcached")
    manager = CacheManager(settings, find_backend=lambda **_: None)
    with pytest.raises(CacheError, match=r"'memcached'.*known: 'disk'"):
        manager.get("response")


def test_a_backend_hook_supplies_every_cache_level(tmp_path: Path, clock: Any) -> None:
    from victor_core.cache import CacheManager
    from victor_core.settings import Settings

    levels: dict[str, MemoryLevel] = {}
    asked: list[str] = []

    def find(*, name: str, settings: Settings) -> Any:
        asked.append(name)
        return lambda cache_type: levels.setdefault(cache_type, MemoryLevel())

    settings = Settings(cache_dir=tmp_path, cache_backend="mem")
    manager = CacheManager(settings, clock=clock, find_backend=find)
    manager.get("response").set("k", "v")  # type: ignore[union-attr]
    manager.get("embedding").set("e", b"\x00")  # type: ignore[union-attr]
    assert asked == ["mem"]  # asked once per manager
    assert sorted(levels) == ["embedding", "response"]
    assert levels["response"].rows["k"][0] == b'\x01"v"'
    assert not any(tmp_path.iterdir())  # nothing on disk
    assert manager.stats("response")["l2"]["backend"] == "memory"
    manager.close()
