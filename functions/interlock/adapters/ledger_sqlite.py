"""Adapters layer: the decision ledger in one SQLite file (the local stack's `Ledger`).

Safe across threads and processes: each thread keeps its own connection, every read-modify-write
runs under `BEGIN IMMEDIATE` (SQLite's write lock, taken before the read, so two writers
serialize instead of both reading the same version), and WAL lets readers proceed meanwhile.
States and outcomes are stored as the codec's JSON; times as integer microseconds since the
epoch so they sort as numbers.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from interlock.core import batch
from interlock.core.batch import BatchWindow, Member
from interlock.core.codec import decode, encode
from interlock.core.errors import TransientError
from interlock.core.events import Outcome
from interlock.core.pending import Pending
from interlock.core.runs import WatchedRun
from interlock.core.state import ModelState
from interlock.ports import Conflict, Snapshot

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BUSY_TIMEOUT_S = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    model TEXT PRIMARY KEY,
    etag INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    decided_us INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (decided_us DESC, seq DESC);
CREATE INDEX IF NOT EXISTS decisions_by_subject ON decisions (subject, decided_us DESC, seq DESC);
CREATE TABLE IF NOT EXISTS pending (
    key TEXT PRIMARY KEY,
    next_us INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_next ON pending (next_us, key);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    next_us INTEGER,
    triggered_us INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_next ON runs (next_us, key);
CREATE INDEX IF NOT EXISTS runs_by_trigger ON runs (triggered_us DESC, key DESC);
CREATE TABLE IF NOT EXISTS windows (
    pipeline TEXT NOT NULL,
    partition TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    state TEXT NOT NULL,
    opened_us INTEGER NOT NULL,
    version INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (pipeline, partition, epoch)
);
CREATE INDEX IF NOT EXISTS windows_by_state ON windows (state, opened_us DESC);
CREATE TABLE IF NOT EXISTS members (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL,
    key TEXT NOT NULL,
    partition TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (pipeline, key)
);
CREATE INDEX IF NOT EXISTS members_by_window ON members (pipeline, partition, epoch, seq);
CREATE TABLE IF NOT EXISTS leases (
    subject TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_us INTEGER NOT NULL
);
"""


def micros(when: datetime) -> int:
    """Exact integer microseconds (float `timestamp()` can round a microsecond away)."""
    if when.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return (when - EPOCH) // timedelta(microseconds=1)


def _dump(value: object) -> str:
    return json.dumps(encode(value), separators=(",", ":"), sort_keys=True)


class SqliteLedger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as db:
            # WAL is a property of the file: set once, every later connection inherits it.
            db.execute("PRAGMA journal_mode=WAL")
            # One transaction: each CREATE on its own would be a commit (a disk flush) apiece,
            # most of a fresh ledger's first event.
            db.executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One connection per thread, kept open: closing the last connection to a WAL file
        # checkpoints it, which cost every ledger call a disk flush (most of a first event).
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # isolation_level=None: we issue BEGIN ourselves, so the lock kind is explicit.
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self._local.db = db
        try:
            yield db
        except sqlite3.OperationalError as exc:
            # "database is locked" after the busy timeout: another writer held it too long.
            raise TransientError(f"sqlite ledger {self.path.name}: {exc}") from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def get(self, key: str) -> Outcome | None:
        with self._connect() as db:
            row = db.execute("SELECT outcome FROM decisions WHERE key = ?", (key,)).fetchone()
        return None if row is None else decode(Outcome, json.loads(row[0]))

    def record(self, key: str, outcome: Outcome) -> Outcome:
        with self._write() as db:
            row = db.execute("SELECT outcome FROM decisions WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return decode(Outcome, json.loads(row[0]))
            self._insert_decision(db, key, outcome)
        return outcome

    def load(self, model: str) -> Snapshot:
        with self._connect() as db:
            row = db.execute("SELECT etag, state FROM models WHERE model = ?", (model,)).fetchone()
        if row is None:
            return Snapshot(ModelState(), 0)
        return Snapshot(decode(ModelState, json.loads(row[1])), int(row[0]))

    def commit(
        self, model: str, state: ModelState, version: int, key: str, outcome: Outcome
    ) -> None:
        """See `Ledger.commit`; a key already recorded also raises `Conflict` (a racer decided)."""
        state_json = _dump(state)
        with self._write() as db:
            row = db.execute("SELECT etag FROM models WHERE model = ?", (model,)).fetchone()
            current = 0 if row is None else int(row[0])
            if current != version:
                raise Conflict(
                    f"{model}: state version {version} is stale, stored version is {current}"
                )
            if db.execute("SELECT 1 FROM decisions WHERE key = ?", (key,)).fetchone():
                raise Conflict(f"{model}: decision {key!r} was already recorded")
            db.execute(
                "INSERT INTO models (model, etag, state) VALUES (?, ?, ?) "
                "ON CONFLICT (model) DO UPDATE SET etag = excluded.etag, state = excluded.state",
                (model, version + 1, state_json),
            )
            self._insert_decision(db, key, outcome)

    def acquire(self, subject: str, holder: str, ttl_s: float, now: datetime) -> bool:
        now_us = micros(now)
        with self._write() as db:
            row = db.execute(
                "SELECT holder, expires_us FROM leases WHERE subject = ?", (subject,)
            ).fetchone()
            if row is not None and row[0] != holder and row[1] > now_us:
                return False
            db.execute(
                "INSERT INTO leases (subject, holder, expires_us) VALUES (?, ?, ?) "
                "ON CONFLICT (subject) DO UPDATE "
                "SET holder = excluded.holder, expires_us = excluded.expires_us",
                (subject, holder, now_us + round(ttl_s * 1_000_000)),
            )
        return True

    def release(self, subject: str, holder: str) -> None:
        # Only the holder may release: a late release must not free a lease someone else took.
        with self._write() as db:
            db.execute("DELETE FROM leases WHERE subject = ? AND holder = ?", (subject, holder))

    def outcomes(self, subject: str | None = None, limit: int = 50) -> list[Outcome]:
        query = "SELECT outcome FROM decisions"
        args: tuple[object, ...] = ()
        if subject is not None:
            query += " WHERE subject = ?"
            args = (subject,)
        query += " ORDER BY decided_us DESC, seq DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(query, (*args, limit)).fetchall()
        return [decode(Outcome, json.loads(r[0])) for r in rows]

    def park(self, pending: Pending) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO pending (key, next_us, record) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE "
                "SET next_us = excluded.next_us, record = excluded.record",
                (pending.key, micros(pending.next_attempt), _dump(pending)),
            )

    def pending(self, key: str) -> Pending | None:
        with self._connect() as db:
            row = db.execute("SELECT record FROM pending WHERE key = ?", (key,)).fetchone()
        return None if row is None else decode(Pending, json.loads(row[0]))

    def parked(self, limit: int = 50, due: datetime | None = None) -> list[Pending]:
        query = "SELECT record FROM pending"
        args: tuple[object, ...] = ()
        if due is not None:
            query, args = query + " WHERE next_us <= ?", (micros(due),)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY next_us, key LIMIT ?", (*args, limit)).fetchall()
        return [decode(Pending, json.loads(r[0])) for r in rows]

    def unpark(self, key: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM pending WHERE key = ?", (key,))

    def watch(self, run: WatchedRun) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (key, next_us, triggered_us, record) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                _run_row(run),
            )

    def update_run(self, run: WatchedRun) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (key, next_us, triggered_us, record) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET next_us = excluded.next_us, "
                "triggered_us = excluded.triggered_us, record = excluded.record",
                _run_row(run),
            )

    def watched_run(self, key: str) -> WatchedRun | None:
        with self._connect() as db:
            row = db.execute("SELECT record FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else decode(WatchedRun, json.loads(row[0]))

    def watched(self, due: datetime, limit: int = 50) -> list[WatchedRun]:
        # A final run's next_us is NULL: no comparison matches it.
        with self._connect() as db:
            rows = db.execute(
                "SELECT record FROM runs WHERE next_us <= ? ORDER BY next_us, key LIMIT ?",
                (micros(due), limit),
            ).fetchall()
        return [decode(WatchedRun, json.loads(r[0])) for r in rows]

    def runs(self, limit: int = 50) -> list[WatchedRun]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT record FROM runs ORDER BY triggered_us DESC, key DESC LIMIT ?", (limit,)
            ).fetchall()
        return [decode(WatchedRun, json.loads(r[0])) for r in rows]

    def join(
        self, pipeline: str, partition: str, member: Member | None, now: datetime
    ) -> tuple[BatchWindow, bool]:
        with self._write() as db:
            if member is not None:
                row = db.execute(
                    "SELECT w.record FROM members m JOIN windows w ON w.pipeline = m.pipeline "
                    "AND w.partition = m.partition AND w.epoch = m.epoch "
                    "WHERE m.pipeline = ? AND m.key = ?",
                    (pipeline, member.key),
                ).fetchone()
                if row is not None:
                    return decode(BatchWindow, json.loads(row[0])), False
            row = db.execute(
                "SELECT record FROM windows WHERE pipeline = ? AND partition = ? "
                "ORDER BY epoch DESC LIMIT 1",
                (pipeline, partition),
            ).fetchone()
            window = None if row is None else decode(BatchWindow, json.loads(row[0]))
            if window is None or window.state != "open":
                epoch = 0 if window is None else window.epoch + 1
                window = batch.opened(pipeline, partition, epoch, now)
            window = batch.joined(window, now, member is not None, member is None)
            self._put_window(db, window)
            if member is not None:
                self._insert_member(db, window, member)
        return window, True

    def window(self, pipeline: str, partition: str, epoch: int) -> BatchWindow | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT record FROM windows WHERE pipeline = ? AND partition = ? AND epoch = ?",
                (pipeline, partition, epoch),
            ).fetchone()
        return None if row is None else decode(BatchWindow, json.loads(row[0]))

    def windows(
        self, states: Sequence[str], pipeline: str | None = None, limit: int = 100
    ) -> list[BatchWindow]:
        marks = ",".join("?" * len(states))
        query = f"SELECT record FROM windows WHERE state IN ({marks})"  # noqa: S608 (only "?")
        args: tuple[object, ...] = tuple(states)
        if pipeline is not None:
            query, args = query + " AND pipeline = ?", (*args, pipeline)
        query += " ORDER BY opened_us DESC, epoch DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(query, (*args, limit)).fetchall()
        return [decode(BatchWindow, json.loads(r[0])) for r in rows]

    def members(self, pipeline: str, partition: str, epoch: int) -> list[Member]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT record FROM members WHERE pipeline = ? AND partition = ? AND epoch = ? "
                "ORDER BY seq",
                (pipeline, partition, epoch),
            ).fetchall()
        return [decode(Member, json.loads(r[0])) for r in rows]

    def advance(
        self, window: BatchWindow, version: int, found: Sequence[Member] = ()
    ) -> BatchWindow:
        where = (window.pipeline, window.partition, window.epoch)
        with self._write() as db:
            row = db.execute(
                "SELECT version FROM windows WHERE pipeline = ? AND partition = ? AND epoch = ?",
                where,
            ).fetchone()
            current = None if row is None else int(row[0])
            if current != version:
                raise Conflict(f"window {window.label}: version {version} is stale ({current})")
            for m in found:
                self._insert_member(db, window, m)
            (count,) = db.execute(
                "SELECT COUNT(*) FROM members WHERE pipeline = ? AND partition = ? AND epoch = ?",
                where,
            ).fetchone()
            window = replace(window, count=int(count))
            self._put_window(db, window)
        return window

    @staticmethod
    def _put_window(db: sqlite3.Connection, w: BatchWindow) -> None:
        db.execute(
            "INSERT INTO windows (pipeline, partition, epoch, state, opened_us, version, record) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pipeline, partition, epoch) DO UPDATE "
            "SET state = excluded.state, version = excluded.version, record = excluded.record",
            (w.pipeline, w.partition, w.epoch, w.state, micros(w.opened_at), w.version, _dump(w)),
        )

    @staticmethod
    def _insert_member(db: sqlite3.Connection, w: BatchWindow, m: Member) -> None:
        """Create-if-absent: a member of any epoch stays where it is."""
        db.execute(
            "INSERT INTO members (pipeline, key, partition, epoch, record) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (pipeline, key) DO NOTHING",
            (w.pipeline, m.key, w.partition, w.epoch, _dump(m)),
        )

    @staticmethod
    def _insert_decision(db: sqlite3.Connection, key: str, outcome: Outcome) -> None:
        db.execute(
            "INSERT INTO decisions (key, subject, decided_us, outcome) VALUES (?, ?, ?, ?)",
            (key, outcome.subject, micros(outcome.decided_at), _dump(outcome)),
        )


def _run_row(run: WatchedRun) -> tuple[object, ...]:
    next_us = None if run.final else micros(run.next_check)
    return (run.key, next_us, micros(run.triggered_at), _dump(run))
