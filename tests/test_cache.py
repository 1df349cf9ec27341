"""TieredCache: levels, expiry, eviction, invalidation, persistence and degradation."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from victor_core.cache import TieredCache, fold_key
from victor_core.exceptions import CacheError


@pytest.fixture
def make(tmp_path: Path, clock: Any) -> Any:
    opened: list[TieredCache] = []

    def factory(name: str = "t", **kwargs: Any) -> TieredCache:
        kwargs.setdefault("directory", tmp_path / name)
        kwargs.setdefault("max_size", 100)
        kwargs.setdefault("ttl", 60)
        kwargs.setdefault("clock", clock)
        cache = TieredCache(name, **kwargs)
        opened.append(cache)
        return cache

    yield factory
    for cache in opened:
        cache.close()


def _events(logs: list[Any], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


# -- values and arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{"tools": ["read", "write"], "n": 2}, [1, 2.5, None, True], "text", 42, 1.5, b"\x00\xffraw"],
)
def test_values_round_trip_through_both_levels(make: Any, value: Any) -> None:
    cache = make()
    cache.set("k", value)
    assert cache.get("k") == value
    fresh = make()  # same directory, empty L1: served by the disk level
    assert fresh.get("k") == value
    assert fresh.stats()["l2"]["hits"] == 1


def test_unsupported_values_and_keys_are_rejected(make: Any) -> None:
    cache = make()
    with pytest.raises(CacheError, match="JSON-serialisable"):
        cache.set("k", {1, 2})
    with pytest.raises(CacheError, match="must be str"):
        cache.set(1, "v")  # type: ignore[arg-type]
    with pytest.raises(CacheError, match="must be str"):
        cache.get(b"k")  # type: ignore[arg-type]
    with pytest.raises(CacheError, match="ttl"):
        cache.set("k", "v", ttl=0)
    with pytest.raises(CacheError, match="glob string"):
        cache.invalidate(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_size": 0}, "max_size"),
        ({"max_size": True}, "max_size"),
        ({"ttl": -1}, "ttl"),
        ({"ttl": "1h"}, "ttl"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_constructor_arguments(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"directory": tmp_path, "max_size": 10, "ttl": 1.0, **kwargs}
    with pytest.raises(CacheError, match=match):
        TieredCache("t", **args)
    with pytest.raises(CacheError, match="name"):
        TieredCache("", directory=None, max_size=1, ttl=1)


def test_default_returned_on_miss(make: Any) -> None:
    cache = make()
    sentinel = object()
    assert cache.get("absent", sentinel) is sentinel
    assert cache.get("absent") is None


def test_memory_only_cache(clock: Any) -> None:
    cache = TieredCache("mem", directory=None, max_size=2, ttl=10, clock=clock)
    cache.set("a", 1)
    assert cache.get("a") == 1
    stats = cache.stats()
    assert stats["l2"]["available"] is False
    assert stats["current_size"] == 1
    cache.close()


def test_directory_is_private(make: Any, tmp_path: Path) -> None:
    cache = make("private")
    cache.set("k", "v")
    mode = stat.S_IMODE((tmp_path / "private").stat().st_mode)
    assert mode == 0o700


# -- expiry --------------------------------------------------------------------------------


def test_ttl_expiry_in_both_levels(make: Any, clock: Any) -> None:
    cache = make(ttl=10)
    cache.set("short", "a", ttl=5)
    cache.set("default", "b")
    cache.set("long", "c", ttl=100)
    clock.now += 6
    assert cache.get("short") is None
    assert cache.get("default") == "b"
    clock.now += 5
    assert cache.get("default") is None
    fresh = make()
    assert fresh.get("default") is None  # the disk level honours the same expiry
    assert fresh.get("long") == "c"
    assert cache.stats()["expired"] >= 2


def test_clear_expired_counts_entries_once(make: Any, clock: Any) -> None:
    cache = make(ttl=10)
    for i in range(5):
        cache.set(f"old{i}", i)
    cache.set("new", "x", ttl=100)
    clock.now += 20
    assert cache.clear_expired() == 5
    assert cache.clear_expired() == 0
    assert cache.stats()["current_size"] == 1
    assert cache.get("new") == "x"


def test_no_ttl_means_no_expiry(make: Any, clock: Any) -> None:
    cache = make(ttl=None)
    cache.set("k", "v")
    clock.now += 10**9
    assert cache.clear_expired() == 0
    assert make().get("k") == "v"


# -- size ----------------------------------------------------------------------------------


def test_size_eviction_and_count(make: Any) -> None:
    cache = make(max_size=3)
    for i in range(5):
        cache.set(f"k{i}", i)
    stats = cache.stats()
    assert stats["current_size"] == 3
    assert stats["evictions"] == 2
    assert stats["l2"]["evictions"] == 2
    assert cache.get("k0") is None
    assert cache.get("k1") is None
    assert [cache.get(f"k{i}") for i in (2, 3, 4)] == [2, 3, 4]
    assert make(max_size=3).stats()["current_size"] == 3


def test_l1_is_lru(clock: Any) -> None:
    cache = TieredCache("lru", directory=None, max_size=2, ttl=10, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.set("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 1
    stats = cache.stats()
    assert stats["evictions"] == 1
    assert stats["l1"]["evictions"] == 1
    assert stats["current_size"] == 2


def test_overwrite_does_not_grow(make: Any) -> None:
    cache = make(max_size=2)
    for _ in range(5):
        cache.set("same", "v")
    assert cache.stats()["current_size"] == 1
    assert cache.stats()["evictions"] == 0


def test_shrink_drops_l1_only(make: Any) -> None:
    cache = make()
    for i in range(10):
        cache.set(f"k{i}", i)
    assert cache.shrink(0.5) == 5
    stats = cache.stats()
    assert stats["l1"]["current_size"] == 5
    assert stats["current_size"] == 10
    assert cache.get("k0") == 0  # back from disk
    with pytest.raises(CacheError, match="between 0 and 1"):
        cache.shrink(1.5)


# -- invalidation --------------------------------------------------------------------------


def test_glob_invalidation(make: Any) -> None:
    cache = make()
    for key in ("auth:login", "auth:logout", "files:read", "user authentication flow"):
        cache.set(key, key)
    fresh_only = make()
    fresh_only.set("auth:token", "t")  # in this instance's L1 and on disk
    assert cache.invalidate("auth:*") == 3
    assert cache.get("auth:login") is None
    assert cache.get("auth:token") is None
    assert cache.get("files:read") == "files:read"
    assert cache.invalidate("*authentication*") == 1
    assert cache.invalidate("*nothing*") == 0
    assert make().stats()["current_size"] == 1


def test_glob_character_classes(make: Any) -> None:
    cache = make()
    for key in ("a1", "a2", "b1"):
        cache.set(key, key)
    assert cache.invalidate("[!b]1") == 1
    assert cache.invalidate("a?") == 1
    assert make().get("b1") == "b1"


def test_normalised_keys_and_patterns(make: Any) -> None:
    cache = make(normalize=True)
    cache.set("  Find   FILES ", 1)
    assert cache.get("find files") == 1
    assert cache.get("FIND\tfiles") == 1
    assert cache.invalidate("*Files*") == 1
    assert fold_key("  A  b ") == "a b"


def test_delete_and_clear(make: Any) -> None:
    cache = make()
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert make().get("a") is None
    assert cache.clear() == 1
    assert cache.stats()["current_size"] == 0
    assert make().get("b") is None


# -- statistics ----------------------------------------------------------------------------


def test_stats_arithmetic(make: Any) -> None:
    cache = make()
    cache.set("a", 1)
    for _ in range(3):
        cache.get("a")
    cache.get("x")
    stats = cache.stats()
    assert stats["hits"] == 3
    assert stats["misses"] == 1
    assert stats["hit_rate"] == pytest.approx(0.75)
    assert stats["miss_rate"] == pytest.approx(0.25)
    assert stats["hit_rate"] + stats["miss_rate"] == pytest.approx(1.0)
    assert stats["max_size"] == 100
    assert stats["l1"] == {
        "hits": 3,
        "misses": 1,
        "hit_rate": 0.75,
        "miss_rate": 0.25,
        "current_size": 1,
        "max_size": 100,
        "evictions": 0,
    }
    assert stats["l2"]["hits"] == 0
    assert stats["l2"]["misses"] == 1
    fresh = make()
    fresh.get("a")
    assert fresh.stats()["l2"]["hits"] == 1
    assert fresh.stats()["l1"]["misses"] == 1
    assert fresh.stats()["hits"] == 1


def test_empty_stats_have_zero_rates(make: Any) -> None:
    stats = make().stats()
    assert (stats["hit_rate"], stats["miss_rate"], stats["current_size"]) == (0.0, 0.0, 0)


def test_lookup_callback_and_bypass(make: Any) -> None:
    seen: list[bool] = []
    cache = make(on_lookup=seen.append, bypass=lambda key: key.startswith("skip:"))
    cache.set("a", 1)
    cache.get("a")
    cache.get("b")
    cache.set("skip:x", 1)
    assert cache.get("skip:x") is None
    assert seen == [True, False]


def test_threads_share_one_cache(clock: Any) -> None:
    cache = TieredCache("threads", directory=None, max_size=50, ttl=10, clock=clock)

    def work(n: int) -> None:
        for i in range(300):
            cache.set(f"{n}:{i}", i)
            cache.get(f"{n}:{i // 2}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = cache.stats()
    assert stats["current_size"] == 50
    assert stats["hits"] + stats["misses"] == 1200
    assert stats["evictions"] == 1200 - 50


def test_close_and_reopen(make: Any) -> None:
    cache = make()
    cache.set("k", "v")
    cache.close()
    cache.close()
    assert cache.get("k") == "v"
    with make() as other:
        assert other.get("k") == "v"


# -- processes -----------------------------------------------------------------------------


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_persistence_across_processes(tmp_path: Path) -> None:
    writer = _python(
        """
        import sys
        from victor_core.cache import TieredCache
        with TieredCache("p", directory=sys.argv[1], max_size=10, ttl=60) as cache:
            cache.set("greeting", {"text": "hello"})
            cache.set("blob", b"\\x01\\x02")
        """,
        str(tmp_path / "p"),
    )
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    with TieredCache("p", directory=tmp_path / "p", max_size=10, ttl=60) as cache:
        assert cache.get("greeting") == {"text": "hello"}
        assert cache.get("blob") == b"\x01\x02"
        cache.set("reply", [1, 2])
    reader = _python(
        """
        import sys
        from victor_core.cache import TieredCache
        with TieredCache("p", directory=sys.argv[1], max_size=10, ttl=60) as cache:
            print(cache.get("reply"))
        """,
        str(tmp_path / "p"),
    )
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert out.strip() == "[1, 2]"


def test_four_processes_writing_concurrently_lose_nothing(tmp_path: Path) -> None:
    code = """
        import sys
        from victor_core.cache import TieredCache
        worker = sys.argv[2]
        with TieredCache("c", directory=sys.argv[1], max_size=10_000, ttl=600, timeout=10) as cache:
            for i in range(150):
                cache.set(f"{worker}:{i}", {"worker": worker, "i": i})
            print(cache.stats()["l2"]["available"])
        """
    workers = [_python(code, str(tmp_path / "c"), str(n)) for n in range(4)]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert out.strip() == "True", err
        assert "locked" not in err
    with TieredCache("c", directory=tmp_path / "c", max_size=10_000, ttl=600) as cache:
        assert cache.stats()["current_size"] == 600
        for n in range(4):
            for i in range(150):
                assert cache.get(f"{n}:{i}") == {"worker": str(n), "i": i}


# -- degradation ---------------------------------------------------------------------------


def _assert_memory_only(cache: TieredCache, logs: list[Any]) -> None:
    cache.set("k", "v")
    assert cache.get("k") == "v"
    cache.set("k2", "v2")
    assert cache.invalidate("k*") == 2
    assert cache.clear_expired() == 0
    stats = cache.stats()
    assert stats["l2"]["available"] is False
    warnings = _events(logs, "cache_disk_unavailable")
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["cache"] == cache.name


def test_file_in_place_of_directory_degrades_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("not a directory")
    with (
        capture_logs() as logs,
        TieredCache("blocked", directory=blocker, max_size=10, ttl=60) as cache,
    ):
        _assert_memory_only(cache, logs)
    nested = TieredCache("nested", directory=blocker / "sub", max_size=10, ttl=60)
    with capture_logs() as logs:
        _assert_memory_only(nested, logs)
    nested.close()


def test_corrupt_database_degrades_to_memory(tmp_path: Path) -> None:
    directory = tmp_path / "corrupt"
    directory.mkdir()
    (directory / "cache.db").write_bytes(b"this is not an sqlite database" * 200)
    with (
        capture_logs() as logs,
        TieredCache("corrupt", directory=directory, max_size=10, ttl=60) as cache,
    ):
        _assert_memory_only(cache, logs)
        assert "not a database" in _events(logs, "cache_disk_unavailable")[0]["error"]


def test_database_dropped_while_in_use_degrades(tmp_path: Path) -> None:
    directory = tmp_path / "dropped"
    with (
        capture_logs() as logs,
        TieredCache("dropped", directory=directory, max_size=10, ttl=60) as cache,
    ):
        cache.set("before", 1)
        con = sqlite3.connect(directory / "cache.db")
        con.execute("DROP TABLE Cache")
        con.commit()
        con.close()
        cache.set("after", 2)  # the write fails: one warning, memory only
        assert cache.get("after") == 2
        assert cache.get("missing") is None
        assert cache.stats()["l2"]["available"] is False
        assert len(_events(logs, "cache_disk_unavailable")) == 1


def test_locked_database_degrades_to_memory(tmp_path: Path) -> None:
    directory = tmp_path / "locked"
    with TieredCache("locked", directory=directory, max_size=10, ttl=60) as first:
        first.set("k", "v")
    holder = sqlite3.connect(directory / "cache.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with (
            capture_logs() as logs,
            TieredCache("locked", directory=directory, max_size=10, ttl=60, timeout=0.2) as cache,
        ):
            cache.set("k2", "v2")
            assert cache.get("k2") == "v2"
            cache.set("k3", "v3")
            assert cache.stats()["l2"]["available"] is False
            assert len(_events(logs, "cache_disk_unavailable")) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- safety --------------------------------------------------------------------------------


_PLANT = """
import pathlib, sys
import diskcache

class Exploit:
    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(sys.argv[2]),))

with diskcache.Cache(sys.argv[1]) as plain:
    plain.set("victim", Exploit())
    plain.set("big victim", [Exploit(), "x" * 100_000])
    plain.set(("pickled", "key"), "value")
    plain.set("plain text", "stored raw by diskcache")
    plain.set("odd expiry", b'\x01"json"', tag="not a time")
"""


def test_planted_pickle_is_never_executed(tmp_path: Path) -> None:
    directory = tmp_path / "planted"
    marker = tmp_path / "pwned"
    with TieredCache("planted", directory=directory, max_size=10, ttl=60) as cache:
        cache.set("good", "value")
    # Plant in a separate process so this one never holds an exploit object.
    planter = _python(_PLANT, str(directory), str(marker))
    _, err = planter.communicate(timeout=60)
    assert planter.returncode == 0, err
    with (
        capture_logs() as logs,
        TieredCache("planted", directory=directory, max_size=10, ttl=60) as cache,
    ):
        assert cache.get("victim") is None
        assert cache.get("big victim", "default") == "default"
        assert cache.get("plain text") is None
        assert cache.get("odd expiry") is None
        assert cache.get("good") == "value"
        refused = _events(logs, "cache_entry_refused")
        keys = ["victim", "big victim", "plain text", "odd expiry"]
        assert [e["key"] for e in refused] == keys
        assert all(e["log_level"] == "warning" for e in refused)
        assert cache.get("victim") is None  # the refused row was removed
        assert len(_events(logs, "cache_entry_refused")) == 4
        assert cache.stats()["l2"]["available"] is True
        assert cache.invalidate("*") >= 1
        assert cache.clear() >= 1
    assert not marker.exists()


def test_planted_file_names_cannot_delete_outside_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    with TieredCache("s", directory=directory, max_size=10, ttl=60) as cache:
        cache.set("k", "v")
    con = sqlite3.connect(directory / "cache.db")
    for n, name in enumerate(["../precious.txt", str(outside), "ab/../../precious.txt"]):
        con.execute(
            "INSERT INTO Cache (key, raw, store_time, mode, filename) VALUES (?, 1, 0, 4, ?)",
            (f"planted{n}", name),
        )
    con.commit()
    con.close()
    with capture_logs(), TieredCache("s", directory=directory, max_size=10, ttl=60) as cache:
        assert cache.get("planted0") is None  # refused, row deleted, file kept
        assert cache.invalidate("planted*") == 2
        assert cache.clear() == 1
    assert outside.read_text() == "keep me"


def test_safe_disk_refuses_to_write_or_read_pickles(tmp_path: Path) -> None:
    from victor_core.cache import UndecodableEntry
    from victor_core.cache._disk import SafeDisk

    disk = SafeDisk(str(tmp_path))
    with pytest.raises(TypeError):
        disk.put(("tuple", "key"))
    with pytest.raises(TypeError):
        disk.store({"not": "bytes"}, False)
    with pytest.raises(UndecodableEntry):
        disk.get(b"\x80\x04K\x01.", False)
    with pytest.raises(UndecodableEntry):
        disk.fetch(4, None, b"\x80\x04K\x01.", False)
    with pytest.raises(UndecodableEntry):
        disk.fetch(1, None, "raw text", False)
    assert disk.fetch(1, None, sqlite3.Binary(b"\x02ok"), False) == b"\x02ok"
    assert disk.get("key", True) == "key"


def test_import_is_cheap() -> None:
    code = (
        "import sys, victor_core.cache, victor_core.cache._manager\n"
        "heavy = {'diskcache', 'sqlite3', 'structlog', 'asyncio'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_existing_directory_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "loose"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    with TieredCache("loose", directory=directory, max_size=10, ttl=60) as cache:
        cache.set("k", "v")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_set_many(make: Any) -> None:
    cache = make(max_size=3)
    cache.set_many({"a": 1, "b": b"2"})
    cache.set_many([("c", [3]), ("d", {"x": 4})], ttl=5)
    stats = cache.stats()
    assert stats["current_size"] == 3
    assert stats["evictions"] == 1
    fresh = make(max_size=3)
    assert [fresh.get(k) for k in "abcd"] == [None, b"2", [3], {"x": 4}]
    with pytest.raises(CacheError, match="JSON"):
        cache.set_many({"e": object()})
    assert cache.get("e") is None
    cache.set_many({})


def test_lookup_totals_are_shared_through_the_store(make: Any) -> None:
    first = make(max_size=2)
    first.set("a", 1)
    first.get("a")
    first.get("b")
    for key in ("c", "d"):
        first.set(key, 0)
    assert first.stats()["all_processes"]["hits"] == 1  # pending counts are included
    first.close()
    second = make(max_size=2)
    shared = second.stats()["all_processes"]
    assert (shared["hits"], shared["misses"], shared["evictions"]) == (1, 1, 1)
    second.get("c")
    second.flush_stats()
    second.flush_stats()  # nothing new: no double counting
    assert second.stats()["all_processes"]["hits"] == 2
    assert second.stats()["all_processes"]["hit_rate"] == pytest.approx(2 / 3)
    assert second.stats()["hits"] == 1  # this instance's own lookups


def test_memory_only_cache_has_no_shared_totals(clock: Any) -> None:
    cache = TieredCache("mem", directory=None, max_size=2, ttl=10, clock=clock)
    cache.get("x")
    cache.flush_stats()
    assert cache.stats()["all_processes"] is None


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("auth:login", {"auth:login"}),
        ("auth:*", {"auth:login", "auth:logout"}),
        ("*out", {"auth:logout"}),
        ("*log*", {"auth:login", "auth:logout", "blog"}),
        ("*", {"auth:login", "auth:logout", "blog", "a*b"}),
        ("**", {"auth:login", "auth:logout", "blog", "a*b"}),
        ("a*:*in", {"auth:login"}),
        ("a[*]b", {"a*b"}),
        ("?log", {"blog"}),
        ("auth:log[!i]*", {"auth:logout"}),
        ("", set()),
    ],
)
def test_glob_patterns_match_alike_in_both_levels(
    make: Any, pattern: str, expected: set[str]
) -> None:
    import fnmatch

    keys = ["auth:login", "auth:logout", "blog", "a*b"]
    assert {k for k in keys if fnmatch.fnmatchcase(k, pattern)} == expected
    memory = make(directory=None)
    disk = make()
    for cache in (memory, disk):
        cache.set_many({key: key for key in keys})
    assert memory.invalidate(pattern) == len(expected)
    disk.shrink(1.0)  # only the disk level answers now
    assert disk.invalidate(pattern) == len(expected)
    assert {k for k in keys if disk.get(k) is None} == expected
