"""The built-in SQLite backend: layout, search modes, corruption, crash durability."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from victor_core.exceptions import MemoryStoreError
from victor_core.memory import Episode, Fact, MemoryManager
from victor_core.memory._sqlite import (
    DB_FILENAME,
    SqliteMemoryBackend,
    search_terms,
    victor_memory_backend,
)
from victor_core.settings import Settings


def _episode(goal: str, at: float = 1000.0, **meta: Any) -> Episode:
    return Episode(goal=goal, actions=("a",), outcome="ok", created_at=at, metadata=meta)


def _fact(text: str, at: float = 1000.0) -> Fact:
    return Fact(text=text, created_at=at, updated_at=at, last_used_at=at)


def _run(backend: SqliteMemoryBackend, body: Any) -> Any:
    async def main() -> Any:
        try:
            return await body(backend)
        finally:
            await backend.aclose()

    return asyncio.run(main())


def test_hook_puts_one_file_under_data_dir_with_private_modes(settings: Settings) -> None:
    backend = victor_memory_backend(settings=settings)
    assert backend.path == settings.data_dir / DB_FILENAME
    assert not backend.path.exists()  # nothing is opened before the first call

    async def body(b: SqliteMemoryBackend) -> dict[str, Any]:
        await b.add_episodes([_episode("g")], max_episodes=10)
        return await b.stats()

    stats = _run(backend, body)
    assert stats["episodes"] == 1
    assert stats["backend"] == "sqlite"
    assert stats["size_bytes"] > 0
    assert backend.path.is_file()
    if os.name == "posix":
        assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(backend.path.stat().st_mode) == 0o600
    with sqlite3.connect(backend.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.parametrize("fts", [True, False])
def test_search_modes_agree(tmp_path: Path, fts: bool) -> None:
    backend = SqliteMemoryBackend(tmp_path / "m.db", fts=fts)

    async def body(b: SqliteMemoryBackend) -> tuple[Any, ...]:
        await b.add_episodes(
            [_episode("deploy the api"), _episode("write docs"), _episode("deploy worker now")],
            max_episodes=100,
        )
        await b.add_facts([_fact("Café opens at nine"), _fact("100% of tests pass")], max_facts=9)
        return (
            [e.goal for e in await b.search_episodes("deploy worker", 5)],
            [e.goal for e in await b.search_episodes("DOCS", 5)],
            await b.search_episodes('"NEAR(zz) AND * -q', 5),  # FTS syntax is inert
            [f.text for f in await b.search_facts("cafe", 5)] if fts else None,
            [f.text for f in await b.search_facts("100%", 5)],
            (await b.stats())["search"],
        )

    both, docs, syntax, cafe, percent, mode = _run(backend, body)
    assert both[0] == "deploy worker now"
    assert set(both) == {"deploy worker now", "deploy the api"}
    assert docs == ["write docs"]
    assert syntax == []
    if fts:
        assert cafe == ["Café opens at nine"]  # diacritics folded
    assert percent == ["100% of tests pass"]
    assert mode == ("fts5" if fts else "like")


def test_search_terms_are_words() -> None:
    assert search_terms("Deploy, the API; deploy!") == ["deploy", "the", "api"]
    assert len(search_terms(" ".join(f"w{i}" for i in range(50)))) == 16


def test_an_index_is_built_for_rows_written_without_it(tmp_path: Path) -> None:
    path = tmp_path / "m.db"

    async def write(b: SqliteMemoryBackend) -> None:
        await b.add_episodes([_episode("written before fts")], max_episodes=10)

    async def search(b: SqliteMemoryBackend) -> list[str]:
        return [e.goal for e in await b.search_episodes("before", 5)]

    _run(SqliteMemoryBackend(path, fts=False), write)
    backend = SqliteMemoryBackend(path)
    assert _run(backend, search) == ["written before fts"]
    assert backend.fts


def test_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    path.write_bytes(b"this is not a database" * 100)

    async def body(b: SqliteMemoryBackend) -> int:
        return await b.count_episodes()

    with pytest.raises(MemoryStoreError, match=r"m\.db.*not usable.*move it away"):
        _run(SqliteMemoryBackend(path), body)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"

    async def body(b: SqliteMemoryBackend) -> int:
        return await b.count_episodes()

    _run(SqliteMemoryBackend(path), body)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    conn.close()
    with pytest.raises(MemoryStoreError, match="schema version 99"):
        _run(SqliteMemoryBackend(path), body)


def test_calls_after_close_fail_clearly(tmp_path: Path) -> None:
    backend = SqliteMemoryBackend(tmp_path / "m.db")

    async def main() -> None:
        await backend.count_episodes()
        await backend.aclose()
        await backend.aclose()
        await backend.count_episodes()

    with pytest.raises(MemoryStoreError, match="is closed"):
        asyncio.run(main())


def test_fact_upsert_merges_sources_and_metadata(tmp_path: Path) -> None:
    backend = SqliteMemoryBackend(tmp_path / "m.db")

    async def body(b: SqliteMemoryBackend) -> tuple[Any, ...]:
        first = Fact(
            text="X is Y",
            source_episodes=(1,),
            created_at=1,
            updated_at=1,
            last_used_at=1,
            metadata={"a": 1},
        )
        second = Fact(
            text="x is  y.",
            source_episodes=(2,),
            created_at=2,
            updated_at=2,
            last_used_at=2,
            metadata={"b": 2},
        )
        (one,), _ = await b.add_facts([first], max_facts=5)
        (two,), _ = await b.add_facts([second], max_facts=5, reinforce=False)
        (three,), count = await b.add_facts([second], max_facts=5, reinforce=False)
        return one, two, three, count

    one, two, three, count = _run(backend, body)
    assert two.id == one.id
    assert two.source_episodes == (1, 2)
    assert two.metadata == {"a": 1, "b": 2}
    assert two.uses == 1  # not reinforced
    assert two.updated_at == 2
    assert three == two  # nothing new: unchanged
    assert count == 1


def test_persistence_across_backends(tmp_path: Path) -> None:
    path = tmp_path / "m.db"

    async def write(b: SqliteMemoryBackend) -> None:
        await b.add_episodes(
            [_episode(f"g{i}", at=float(i)) for i in range(100)], max_episodes=1000
        )
        await b.add_facts([_fact("persisted fact")], max_facts=10)

    async def read(b: SqliteMemoryBackend) -> tuple[Any, ...]:
        return (
            await b.count_episodes(),
            await b.count_facts(),
            [e.goal for e in await b.recent_episodes(2)],
            [e.id for e in await b.list_episodes()][:3],
        )

    _run(SqliteMemoryBackend(path), write)
    assert _run(SqliteMemoryBackend(path), read) == (100, 1, ["g99", "g98"], [1, 2, 3])


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from victor_core.memory._sqlite import SqliteMemoryBackend
    from victor_core.memory import Episode

    async def main():
        backend = SqliteMemoryBackend(sys.argv[1])
        n = 0
        while True:
            batch = [Episode(goal=f"goal {n + i}", actions=["x" * 200], outcome="ok",
                             created_at=float(n + i)) for i in range(25)]
            stored, _ = await backend.add_episodes(batch, max_episodes=10**9)
            n += len(stored)
            print(stored[-1].id, flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_during_writes_keeps_every_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    committed = 0
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while committed < 2000 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed = int(line)
        # The writer is still writing: kill it mid-transaction, with no clean-up.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert committed >= 2000, "the writer did not get going"
    assert proc.returncode == -signal.SIGKILL

    async def read(b: SqliteMemoryBackend) -> tuple[int, list[int], list[str]]:
        episodes = await b.list_episodes()
        found = await b.search_episodes(f"goal {committed - 1}", 1)
        return await b.count_episodes(), [e.id or 0 for e in episodes], [e.goal for e in found]

    count, ids, found = _run(SqliteMemoryBackend(path), read)
    assert count == len(ids) >= committed
    assert ids[:committed] == list(range(1, committed + 1))
    assert found == [f"goal {committed - 1}"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_manager_over_the_backend_survives_reopening(settings: Settings) -> None:
    async def session(n: int) -> int:
        backend = victor_memory_backend(settings=settings)
        manager = MemoryManager(None, settings, backend=backend)
        try:
            await manager.episodic.record_many({"goal": f"s{n} {i}"} for i in range(10))
            return await manager.episodic.count()
        finally:
            await manager.aclose()

    assert [asyncio.run(session(n)) for n in range(3)] == [10, 20, 30]


def test_search_returns_up_to_limit_beyond_the_candidate_window(tmp_path: Path) -> None:
    backend = SqliteMemoryBackend(tmp_path / "m.db")

    async def body(b: SqliteMemoryBackend) -> tuple[int, int, int | None]:
        await b.add_episodes([_episode(f"alpha {i}") for i in range(1500)], max_episodes=10_000)
        many = await b.search_episodes("alpha", 1200)
        few = await b.search_episodes("alpha 7", 3)
        return len(many), len({e.id for e in many}), few[0].id

    assert _run(backend, body) == (1200, 1200, 8)


def test_an_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")

    async def body(b: SqliteMemoryBackend) -> int:
        return await b.count_episodes()

    with pytest.raises(MemoryStoreError, match="cannot create the memory directory"):
        _run(SqliteMemoryBackend(blocker / "data" / DB_FILENAME), body)


def test_reads_run_on_the_callers_thread_and_writes_on_the_worker(tmp_path: Path) -> None:
    import threading

    backend = SqliteMemoryBackend(tmp_path / "m.sqlite3")
    threads: list[tuple[str, bool]] = []
    guarded = backend._guarded

    def spy(func: Any, conn: Any) -> Any:
        threads.append((getattr(func, "__name__", "?"), threading.current_thread() is main))
        return guarded(func, conn)

    backend._guarded = spy  # type: ignore[method-assign]
    main = threading.current_thread()

    async def body(b: SqliteMemoryBackend) -> Any:
        await b.add_episodes([_episode("alpha beta")], max_episodes=10)
        threads.clear()
        found = await b.search_episodes("alpha", 3)
        count = await b.count_episodes()
        await b.add_episodes([_episode("gamma")], max_episodes=10)
        return [e.goal for e in found], count

    assert _run(backend, body) == (["alpha beta"], 1)
    on_caller = [on for _name, on in threads]
    assert on_caller == [True, True, False]  # two reads here, the write on the worker


def test_a_read_waits_behind_a_busy_connection_on_the_worker(tmp_path: Path) -> None:
    import threading

    backend = SqliteMemoryBackend(tmp_path / "m.sqlite3")

    async def body(b: SqliteMemoryBackend) -> int:
        await b.add_episodes([_episode("one"), _episode("two")], max_episodes=10)
        b._db_lock.acquire()  # another statement holds the connection
        threading.Timer(0.2, b._db_lock.release).start()
        return await b.count_episodes()  # queued on the worker, not a second user of conn

    assert _run(backend, body) == 2


def test_a_read_after_close_is_refused(tmp_path: Path) -> None:
    backend = SqliteMemoryBackend(tmp_path / "m.sqlite3")

    async def main() -> None:
        await backend.add_episodes([_episode("one")], max_episodes=10)
        await backend.aclose()
        await backend.count_episodes()

    with pytest.raises(MemoryStoreError, match="closed"):
        asyncio.run(main())
