"""The built-in memory backend: one SQLite file under ``data_dir``.

Registered lazily as the plugin ``sqlite-memory`` of the ``memory`` family
(see :data:`victor_core.plugins.DEFAULT_PLUGINS`); it answers
``victor_memory_backend`` last, so an installed backend plugin wins.

Why it looks the way it does:

* WAL journal with ``synchronous=NORMAL``: a committed transaction survives
  the process being killed at any point (``kill -9``); only a power loss or
  an operating-system crash may lose the last few commits.
* Writes run on one worker thread, so the event loop never waits on a write
  (or on another process's write lock). Reads (search, recent, count, list)
  run on the caller's thread when the connection is free, since a read of a
  WAL database never waits for a writer and handing it to the worker costs
  more than the read (a thread hop, about 0.3 ms on a small machine); when
  the worker holds the connection, the read queues behind it instead. A lock
  keeps two statements from ever racing on the connection.
* Episode and fact counts are kept in a table by triggers, so enforcing the
  hard caps costs one indexed read per write, not a ``count(*)`` scan.
* Text search uses FTS5 (ranked by bm25) when the SQLite library has it and
  falls back to ``LIKE`` matching otherwise.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from victor_core._markers import hookimpl
from victor_core.exceptions import MemoryStoreError
from victor_core.memory._episodic import Episode
from victor_core.memory._sqlite_sql import (
    _EPISODE_COLUMNS,
    _FACT_COLUMNS,
    _FTS_SCHEMA,
    _SCHEMA,
    SCHEMA_VERSION,
    _by_ids,
    _count,
    _dumps,
    _episode,
    _fact,
    _fts5_available,
    _fts_ids,
    _like_search,
    _next_id,
    _transaction,
    _trim_facts,
    _upsert_fact,
    search_terms,
)

if TYPE_CHECKING:
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    from victor_core.memory._semantic import Fact
    from victor_core.settings import Settings

__all__ = ["DB_FILENAME", "SqliteMemoryBackend", "victor_memory_backend"]

T = TypeVar("T")

#: File name of the database inside ``settings.data_dir``.
DB_FILENAME = "memory.sqlite3"


# trylast: whatever the registration order (an inline plugin may register
# before this module loads), any other backend answers first.
@hookimpl(trylast=True)
def victor_memory_backend(settings: Settings) -> SqliteMemoryBackend:
    """The default backend: ``settings.data_dir / "memory.sqlite3"``."""
    return SqliteMemoryBackend(Path(settings.data_dir) / DB_FILENAME)


class SqliteMemoryBackend:
    """Episodes and facts in one SQLite database file.

    Args:
        path: the database file (its directory is created with mode 0700).
        fts: use FTS5 for search; None (default) uses it where SQLite has it,
            False forces the ``LIKE`` fallback.
        clock: seconds since the epoch, for the timestamps of fact use.

    Every method is a coroutine running its SQL on the backend's own worker
    thread. The file opens on the first call; :meth:`aclose` closes it.

    Raises:
        MemoryStoreError: (from any method) the file cannot be opened or is not
            a victor-core memory database.
    """

    name = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fts: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._want_fts = fts
        self.fts = False
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()  # held while a statement uses the connection
        self._closed = False

    def __repr__(self) -> str:
        return f"<SqliteMemoryBackend {str(self.path)!r} fts={self.fts}>"

    # -- plumbing ----------------------------------------------------------------------

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        import asyncio

        with self._lock:
            if self._closed:
                raise MemoryStoreError(f"memory database {str(self.path)!r} is closed")
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor

                self._executor = ThreadPoolExecutor(1, thread_name_prefix="victor-memory")
            executor = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self._call, func)

    async def _read(self, func: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on this thread when the open connection is free, else on the worker."""
        conn = self._conn
        if conn is not None and not self._closed and self._db_lock.acquire(blocking=False):
            try:
                return self._guarded(func, conn)
            finally:
                self._db_lock.release()
        return await self._run(func)

    def _call(self, func: Callable[[sqlite3.Connection], T]) -> T:
        with self._db_lock:
            return self._guarded(func, self._connect())

    def _guarded(self, func: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
        import sqlite3

        try:
            return func(conn)
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"memory database {str(self.path)!r} failed: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = self._open()
            try:
                self._prepare(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _open(self) -> sqlite3.Connection:
        """A connection to the database file, its directory made if need be (mode 0700)."""
        import sqlite3

        directory = self.path.parent
        try:
            if not directory.exists():
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise MemoryStoreError(
                f"cannot create the memory directory {str(directory)!r}: {exc}"
            ) from exc
        is_new = not self.path.exists()
        try:
            # Autocommit mode: transactions are opened explicitly with BEGIN.
            # check_same_thread=False: reads also run on the caller's thread, under _db_lock.
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, timeout=10.0, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise MemoryStoreError(
                f"cannot open memory database {str(self.path)!r}: {exc}"
            ) from exc
        if is_new:
            try:
                os.chmod(self.path, 0o600)
            except BaseException:
                conn.close()
                raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Set the pragmas, create or check the schema, add the full-text index if wanted."""
        import sqlite3

        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            use_fts = _fts5_available() if self._want_fts is None else self._want_fts
            # executescript() commits first, so the script carries its own transaction.
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if version is None:
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif version[0] != str(SCHEMA_VERSION):
                conn.execute("ROLLBACK")
                raise MemoryStoreError(
                    f"memory database {str(self.path)!r} has schema version {version[0]}; "
                    f"this victor-core reads version {SCHEMA_VERSION}"
                )
            has_fts = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'episodes_fts'"
            ).fetchone()
            conn.execute("COMMIT")
            if use_fts and not has_fts:
                # The rebuilds index rows written before the index existed.
                conn.executescript(
                    "BEGIN IMMEDIATE;"
                    + _FTS_SCHEMA
                    + "INSERT INTO episodes_fts (episodes_fts) VALUES ('rebuild');"
                    "INSERT INTO facts_fts (facts_fts) VALUES ('rebuild');COMMIT;"
                )
            self.fts = bool(use_fts)
        except sqlite3.DatabaseError as exc:
            raise MemoryStoreError(
                f"memory database {str(self.path)!r} is not usable ({exc}); "
                "move it away to start with empty memory"
            ) from exc

    async def aclose(self) -> None:
        """Close the database and stop the worker thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is None:
            return
        import asyncio

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(executor, self._close_conn)
        executor.shutdown(wait=True)

    def _close_conn(self) -> None:
        with self._db_lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    # -- episodes ----------------------------------------------------------------------

    async def add_episodes(
        self, episodes: Sequence[Episode], *, max_episodes: int
    ) -> tuple[list[Episode], int]:
        """Store ``episodes`` in one transaction, then trim to ``max_episodes``.

        Returns:
            The stored episodes (with ids) and the number of episodes now kept.
        """
        rows = [
            (
                e.goal,
                _dumps(list(e.actions)),
                _dumps(e.outcome),
                e.created_at,
                _dumps(dict(e.metadata)),
            )
            for e in episodes
        ]

        def work(conn: sqlite3.Connection) -> tuple[list[Episode], int]:
            with _transaction(conn):
                first = _next_id(conn, "episodes")
                conn.executemany(
                    "INSERT INTO episodes (goal, actions, outcome, created_at, metadata) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                count = _count(conn, "episodes")
                if count > max_episodes:
                    # The most recently recorded (highest ids) are kept.
                    conn.execute(
                        "DELETE FROM episodes WHERE id IN "
                        "(SELECT id FROM episodes ORDER BY id LIMIT ?)",
                        (count - max_episodes,),
                    )
                    count = max_episodes
            stored = [
                Episode(
                    id=first + i,
                    goal=e.goal,
                    actions=e.actions,
                    outcome=e.outcome,
                    created_at=e.created_at,
                    metadata=e.metadata,
                )
                for i, e in enumerate(episodes)
            ]
            return stored, count

        return await self._run(work)

    async def count_episodes(self) -> int:
        """The number of stored episodes."""
        return await self._read(lambda conn: _count(conn, "episodes"))

    async def recent_episodes(self, limit: int) -> list[Episode]:
        """The ``limit`` most recently recorded episodes, newest first."""

        def work(conn: sqlite3.Connection) -> list[Episode]:
            cur = conn.execute(
                f"SELECT {_EPISODE_COLUMNS} FROM episodes ORDER BY id DESC LIMIT ?", (limit,)
            )
            return [_episode(row) for row in cur]

        return await self._read(work)

    async def list_episodes(self) -> list[Episode]:
        """Every stored episode, oldest first."""

        def work(conn: sqlite3.Connection) -> list[Episode]:
            cur = conn.execute(f"SELECT {_EPISODE_COLUMNS} FROM episodes ORDER BY id")
            return [_episode(row) for row in cur]

        return await self._read(work)

    async def search_episodes(self, query: str, limit: int) -> list[Episode]:
        """Episodes matching words of ``query``, best first (then newest first)."""
        terms = search_terms(query)
        if not terms:
            return []

        def work(conn: sqlite3.Connection) -> list[Episode]:
            if self.fts:
                ids = _fts_ids(conn, "episodes_fts", terms, limit)
                return [_episode(row) for row in _by_ids(conn, "episodes", _EPISODE_COLUMNS, ids)]
            text = "(goal || ' ' || outcome || ' ' || actions)"
            cur = _like_search(
                conn, "episodes", _EPISODE_COLUMNS, text=text, terms=terms, limit=limit
            )
            return [_episode(row) for row in cur]

        return await self._read(work)

    async def delete_episodes_before(self, cutoff: float) -> int:
        """Delete episodes created before ``cutoff`` (epoch seconds); return how many."""

        def work(conn: sqlite3.Connection) -> int:
            with _transaction(conn):
                cur = conn.execute("DELETE FROM episodes WHERE created_at < ?", (cutoff,))
                return cur.rowcount

        return await self._run(work)

    # -- facts -------------------------------------------------------------------------

    async def add_facts(
        self, facts: Sequence[Fact], *, max_facts: int, reinforce: bool = True
    ) -> tuple[list[Fact], int]:
        """Insert or update facts (matched by :func:`~victor_core.memory.fact_key`).

        A fact whose key exists is updated: its source episodes and metadata are
        merged in and, with ``reinforce``, its use count goes up by one. Then the
        least used facts (oldest use first) beyond ``max_facts`` are deleted,
        never one written by this call unless the call alone exceeds the cap.

        Returns:
            The stored facts, in the order given, and the number now kept.
        """

        def work(conn: sqlite3.Connection) -> tuple[list[Fact], int]:
            out: list[Fact] = []
            with _transaction(conn):
                for fact in facts:
                    out.append(_upsert_fact(conn, fact, reinforce=reinforce))
                count = _count(conn, "facts")
                if count > max_facts:
                    count = _trim_facts(conn, max_facts, [int(f.id or 0) for f in out])
            return out, count

        return await self._run(work)

    async def replace_facts(self, updates: Sequence[Fact], delete_ids: Sequence[int]) -> None:
        """Overwrite facts by id and delete others, in one transaction (consolidation)."""

        def work(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.executemany(
                    "UPDATE facts SET text = ?, sources = ?, uses = ?, updated_at = ?, "
                    "last_used_at = ?, metadata = ? WHERE id = ?",
                    [
                        (
                            f.text,
                            _dumps(list(f.source_episodes)),
                            f.uses,
                            f.updated_at,
                            f.last_used_at,
                            _dumps(dict(f.metadata)),
                            f.id,
                        )
                        for f in updates
                    ],
                )
                conn.executemany("DELETE FROM facts WHERE id = ?", [(i,) for i in delete_ids])

        await self._run(work)

    async def count_facts(self) -> int:
        """The number of stored facts."""
        return await self._read(lambda conn: _count(conn, "facts"))

    async def list_facts(self) -> list[Fact]:
        """Every stored fact, oldest first."""

        def work(conn: sqlite3.Connection) -> list[Fact]:
            cur = conn.execute(f"SELECT {_FACT_COLUMNS} FROM facts ORDER BY id")
            return [_fact(row) for row in cur]

        return await self._read(work)

    async def search_facts(self, query: str, limit: int) -> list[Fact]:
        """Facts matching words of ``query``, best first; each found fact counts a use."""
        terms = search_terms(query)
        if not terms:
            return []
        now = self._clock()

        def work(conn: sqlite3.Connection) -> list[Fact]:
            if self.fts:
                ids = _fts_ids(conn, "facts_fts", terms, limit)
                rows = _by_ids(conn, "facts", _FACT_COLUMNS, ids)
            else:
                rows = _like_search(
                    conn, "facts", _FACT_COLUMNS, text="text", terms=terms, limit=limit
                ).fetchall()
            found = [_fact(row) for row in rows]
            if found:
                # Use counts drive which facts survive the cap.
                with _transaction(conn):
                    conn.executemany(
                        "UPDATE facts SET uses = uses + 1, last_used_at = ? WHERE id = ?",
                        [(now, f.id) for f in found],
                    )
            return found

        return await self._run(work)

    # -- information -------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Counts, file size and search mode of the database."""

        def work(conn: sqlite3.Connection) -> dict[str, Any]:
            size = 0
            for suffix in ("", "-wal"):
                with contextlib.suppress(OSError):
                    size += os.stat(str(self.path) + suffix).st_size
            return {
                "backend": self.name,
                "path": str(self.path),
                "episodes": _count(conn, "episodes"),
                "facts": _count(conn, "facts"),
                "size_bytes": size,
                "search": "fts5" if self.fts else "like",
            }

        return await self._run(work)
