"""The SQL of the SQLite memory backend: schema, search terms, transactions, rows."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from victor_core.memory._episodic import Episode
from victor_core.memory._semantic import Fact, fact_key

if TYPE_CHECKING:
    import sqlite3

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
INSERT OR IGNORE INTO counts VALUES ('episodes', 0), ('facts', 0);
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    goal TEXT NOT NULL,
    actions TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at REAL NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS episodes_created_at ON episodes (created_at);
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    sources TEXT NOT NULL,
    uses INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_used_at REAL NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS facts_usage ON facts (uses, last_used_at, id);
CREATE TRIGGER IF NOT EXISTS episodes_count_ins AFTER INSERT ON episodes BEGIN
    UPDATE counts SET n = n + 1 WHERE name = 'episodes';
END;
CREATE TRIGGER IF NOT EXISTS episodes_count_del AFTER DELETE ON episodes BEGIN
    UPDATE counts SET n = n - 1 WHERE name = 'episodes';
END;
CREATE TRIGGER IF NOT EXISTS facts_count_ins AFTER INSERT ON facts BEGIN
    UPDATE counts SET n = n + 1 WHERE name = 'facts';
END;
CREATE TRIGGER IF NOT EXISTS facts_count_del AFTER DELETE ON facts BEGIN
    UPDATE counts SET n = n - 1 WHERE name = 'facts';
END;
"""

# External-content FTS5 tables kept in step by triggers, inside the same
# transaction as the row they index.
_FTS_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS episodes_fts USING fts5(
    goal, outcome, actions, content='episodes', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS episodes_fts_ins AFTER INSERT ON episodes BEGIN
    INSERT INTO episodes_fts (rowid, goal, outcome, actions)
    VALUES (new.id, new.goal, new.outcome, new.actions);
END;
CREATE TRIGGER IF NOT EXISTS episodes_fts_del AFTER DELETE ON episodes BEGIN
    INSERT INTO episodes_fts (episodes_fts, rowid, goal, outcome, actions)
    VALUES ('delete', old.id, old.goal, old.outcome, old.actions);
END;
CREATE VIRTUAL TABLE IF NOT EXISTS facts_fts USING fts5(
    text, content='facts', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS facts_fts_ins AFTER INSERT ON facts BEGIN
    INSERT INTO facts_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS facts_fts_del AFTER DELETE ON facts BEGIN
    INSERT INTO facts_fts (facts_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS facts_fts_upd AFTER UPDATE OF text ON facts BEGIN
    INSERT INTO facts_fts (facts_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO facts_fts (rowid, text) VALUES (new.id, new.text);
END;
"""

_EPISODE_COLUMNS = "id, goal, actions, outcome, created_at, metadata"
_FACT_COLUMNS = "id, text, sources, uses, created_at, updated_at, last_used_at, metadata"
_WORD = re.compile(r"\w+", re.UNICODE)
# Terms beyond this many add little to ranking and slow the query down.
_MAX_TERMS = 16
# Matches ranked per search pass (see _fts_ids).
_CANDIDATES = 1000


def _fts5_available() -> bool:
    import sqlite3

    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(a)")
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return True


def search_terms(query: str) -> list[str]:
    """The words of ``query`` used for matching (at most 16, duplicates dropped)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
    return list(seen)[:_MAX_TERMS]


# -- SQL helpers ---------------------------------------------------------------------------


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def _count(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT n FROM counts WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def _next_id(conn: sqlite3.Connection, table: str) -> int:
    # AUTOINCREMENT ids never repeat; inside the write transaction nobody else
    # can insert, so the new rows get consecutive ids from here.
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return (int(row[0]) if row else 0) + 1


def _upsert_fact(conn: sqlite3.Connection, fact: Fact, *, reinforce: bool) -> Fact:
    key = fact_key(fact.text)
    row = conn.execute(f"SELECT {_FACT_COLUMNS} FROM facts WHERE key = ?", (key,)).fetchone()
    if row is None:
        cur = conn.execute(
            "INSERT INTO facts (key, text, sources, uses, created_at, updated_at, last_used_at, "
            "metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                fact.text,
                _dumps(list(fact.source_episodes)),
                fact.uses,
                fact.created_at,
                fact.updated_at,
                fact.last_used_at,
                _dumps(dict(fact.metadata)),
            ),
        )
        return attrs.evolve(fact, id=int(cur.lastrowid or 0))
    old = _fact(row)
    sources = tuple(sorted(set(old.source_episodes) | set(fact.source_episodes)))
    metadata = {**old.metadata, **fact.metadata}
    uses = old.uses + (1 if reinforce else 0)
    changed = reinforce or sources != old.source_episodes or metadata != old.metadata
    updated_at = fact.updated_at if changed else old.updated_at
    last_used = fact.last_used_at if reinforce else old.last_used_at
    if changed:
        conn.execute(
            "UPDATE facts SET sources = ?, uses = ?, updated_at = ?, last_used_at = ?, "
            "metadata = ? WHERE id = ?",
            (_dumps(list(sources)), uses, updated_at, last_used, _dumps(metadata), old.id),
        )
    return attrs.evolve(
        old,
        source_episodes=sources,
        uses=uses,
        updated_at=updated_at,
        last_used_at=last_used,
        metadata=metadata,
    )


def _trim_facts(conn: sqlite3.Connection, max_facts: int, keep_ids: list[int]) -> int:
    # Least used first, then least recently used; the facts just written stay
    # unless they alone exceed the cap (then their oldest go).
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS keep_ids (id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT OR IGNORE INTO keep_ids VALUES (?)", [(i,) for i in keep_ids])
    conn.execute(
        "DELETE FROM facts WHERE id IN (SELECT id FROM facts WHERE id NOT IN keep_ids "
        "ORDER BY uses, last_used_at, id LIMIT ?)",
        (_count(conn, "facts") - max_facts,),
    )
    conn.execute("DELETE FROM keep_ids")
    excess = _count(conn, "facts") - max_facts
    if excess > 0:
        conn.execute(
            "DELETE FROM facts WHERE id IN (SELECT id FROM facts ORDER BY id LIMIT ?)", (excess,)
        )
    return _count(conn, "facts")


def _fts_ids(conn: sqlite3.Connection, table: str, terms: list[str], limit: int) -> list[int]:
    """Ids of the best matches: rows with every word first, then rows with any word.

    Ranking every match by bm25 costs a sort over all of them (tens of ms at
    100,000 rows for a common word), so each pass ranks only the newest
    ``_CANDIDATES`` matches (or ``limit``, if more); FTS5 yields those in
    rowid order without a sort.
    """
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    passes = [" ".join(quoted)]
    if len(quoted) > 1:
        passes.append(" OR ".join(quoted))
    sql = (
        f"SELECT id FROM (SELECT rowid AS id, bm25({table}) AS r FROM {table} "
        f"WHERE {table} MATCH ? ORDER BY rowid DESC LIMIT ?) "
        "ORDER BY r, id DESC LIMIT ?"
    )
    candidates = max(_CANDIDATES, limit)
    ids: dict[int, None] = {}
    for match in passes:
        for (row_id,) in conn.execute(sql, (match, candidates, limit)):
            ids.setdefault(row_id, None)
        if len(ids) >= limit:
            break
    return list(ids)[:limit]


def _by_ids(
    conn: sqlite3.Connection, table: str, columns: str, ids: list[int]
) -> list[Sequence[Any]]:
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    rows = {
        r[0]: r for r in conn.execute(f"SELECT {columns} FROM {table} WHERE id IN ({marks})", ids)
    }
    return [rows[i] for i in ids if i in rows]


def _like_search(
    conn: sqlite3.Connection,
    table: str,
    columns: str,
    *,
    text: str,
    terms: list[str],
    limit: int,
) -> sqlite3.Cursor:
    patterns = [
        "%" + t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for t in terms
    ]
    score = " + ".join(f"(lower({text}) LIKE ? ESCAPE '\\')" for _ in patterns)
    sql = (
        f"SELECT {columns} FROM (SELECT *, ({score}) AS score FROM {table}) "
        "WHERE score > 0 ORDER BY score DESC, id DESC LIMIT ?"
    )
    return conn.execute(sql, (*patterns, limit))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _episode(row: Sequence[Any]) -> Episode:
    return Episode(
        id=row[0],
        goal=row[1],
        actions=tuple(json.loads(row[2])),
        outcome=json.loads(row[3]),
        created_at=row[4],
        metadata=json.loads(row[5]),
    )


def _fact(row: Sequence[Any]) -> Fact:
    return Fact(
        id=row[0],
        text=row[1],
        source_episodes=tuple(json.loads(row[2])),
        uses=row[3],
        created_at=row[4],
        updated_at=row[5],
        last_used_at=row[6],
        metadata=json.loads(row[7]),
    )
