"""Local stack (stand-in): JSON documents and counters in one SQLite file, behind one lock.

One lock serialises every request's read-modify-write, so handlers can assume they run alone;
SQLite then only has to survive restarts, not concurrency.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Store:
    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT body FROM docs WHERE kind = ? AND name = ?", (kind, name)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, kind: str, name: str, body: dict[str, Any]) -> None:
        seq = self.next_id("docs.seq")
        self._db.execute(
            "INSERT INTO docs (kind, name, body, seq) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body",
            (kind, name, json.dumps(body, sort_keys=True), seq),
        )

    def delete(self, kind: str, name: str) -> None:
        self._db.execute("DELETE FROM docs WHERE kind = ? AND name = ?", (kind, name))

    def list(self, kind: str, prefix: str = "") -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT body FROM docs WHERE kind = ? AND substr(name, 1, ?) = ? ORDER BY seq",
            (kind, len(prefix), prefix),
        ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def next_id(self, counter: str) -> int:
        self.bump(counter)
        return self.counter(counter)

    def bump(self, counter: str, by: int = 1) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (counter, by),
        )

    def counter(self, counter: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (counter,)).fetchone()
        return 0 if row is None else int(row[0])

    def counters(self) -> dict[str, int]:
        rows = self._db.execute("SELECT name, value FROM counters ORDER BY name").fetchall()
        return {str(n): int(v) for n, v in rows if not str(n).endswith(".seq")}

    def close(self) -> None:
        with self.lock:
            self._db.close()
