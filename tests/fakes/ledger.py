"""Fakes: an in-memory `Ledger`, thread-safe, held to the same contract tests as the real ones.

It stores the codec's JSON, not the objects, so a state that would not survive the real
ledgers' round trip fails here too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from interlock.core import batch
from interlock.core.batch import BatchWindow, Member
from interlock.core.codec import decode, encode
from interlock.core.events import Outcome
from interlock.core.pending import Pending
from interlock.core.runs import WatchedRun
from interlock.core.state import ModelState
from interlock.ports import Conflict, Snapshot


class FakeLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, tuple[int, Any]] = {}
        self._decisions: dict[str, tuple[int, Any]] = {}  # key -> (insertion seq, outcome JSON)
        self._leases: dict[str, tuple[str, datetime]] = {}
        self._pending: dict[str, Any] = {}  # key -> pending record JSON
        self._runs: dict[str, Any] = {}  # key -> watched run JSON
        self._windows: dict[tuple[str, str, int], Any] = {}  # window JSON
        self._heads: dict[tuple[str, str], int] = {}  # (pipeline, partition) -> latest epoch
        self._members: dict[tuple[str, str], tuple[str, int, Any]] = {}  # (pipeline, key) -> …

    def get(self, key: str) -> Outcome | None:
        with self._lock:
            found = self._decisions.get(key)
        return None if found is None else decode(Outcome, found[1])

    def record(self, key: str, outcome: Outcome) -> Outcome:
        with self._lock:
            found = self._decisions.get(key)
            if found is None:
                self._decisions[key] = (len(self._decisions), encode(outcome))
                return outcome
        return decode(Outcome, found[1])

    def load(self, model: str) -> Snapshot:
        with self._lock:
            found = self._models.get(model)
        if found is None:
            return Snapshot(ModelState(), 0)
        return Snapshot(decode(ModelState, found[1]), found[0])

    def commit(
        self, model: str, state: ModelState, version: int, key: str, outcome: Outcome
    ) -> None:
        """See `Ledger.commit`; a key already recorded also raises `Conflict` (a racer decided)."""
        state_json, outcome_json = encode(state), encode(outcome)
        with self._lock:
            current = self._models.get(model, (0, None))[0]
            if current != version:
                raise Conflict(
                    f"{model}: state version {version} is stale, stored version is {current}"
                )
            if key in self._decisions:
                raise Conflict(f"{model}: decision {key!r} was already recorded")
            self._models[model] = (version + 1, state_json)
            self._decisions[key] = (len(self._decisions), outcome_json)

    def acquire(self, subject: str, holder: str, ttl_s: float, now: datetime) -> bool:
        with self._lock:
            lease = self._leases.get(subject)
            if lease is not None and lease[0] != holder and lease[1] > now:
                return False
            self._leases[subject] = (holder, now + timedelta(seconds=ttl_s))
            return True

    def release(self, subject: str, holder: str) -> None:
        with self._lock:
            lease = self._leases.get(subject)
            if lease is not None and lease[0] == holder:
                del self._leases[subject]

    def outcomes(self, subject: str | None = None, limit: int = 50) -> list[Outcome]:
        with self._lock:
            rows = list(self._decisions.values())
        found = [decode(Outcome, o) for _, o in sorted(rows, key=lambda r: r[0], reverse=True)]
        if subject is not None:
            found = [o for o in found if o.subject == subject]
        # Stable sort: equal decision times keep the newest-recorded first, as SQLite does.
        found.sort(key=lambda o: o.decided_at, reverse=True)
        return found[:limit]

    def park(self, pending: Pending) -> None:
        with self._lock:
            self._pending[pending.key] = encode(pending)

    def pending(self, key: str) -> Pending | None:
        with self._lock:
            found = self._pending.get(key)
        return None if found is None else decode(Pending, found)

    def parked(self, limit: int = 50, due: datetime | None = None) -> list[Pending]:
        with self._lock:
            rows = [decode(Pending, p) for p in self._pending.values()]
        if due is not None:
            rows = [p for p in rows if p.next_attempt <= due]
        return sorted(rows, key=lambda p: (p.next_attempt, p.key))[:limit]

    def unpark(self, key: str) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def watch(self, run: WatchedRun) -> None:
        with self._lock:
            self._runs.setdefault(run.key, encode(run))

    def update_run(self, run: WatchedRun) -> None:
        with self._lock:
            self._runs[run.key] = encode(run)

    def watched_run(self, key: str) -> WatchedRun | None:
        with self._lock:
            found = self._runs.get(key)
        return None if found is None else decode(WatchedRun, found)

    def watched(self, due: datetime, limit: int = 50) -> list[WatchedRun]:
        with self._lock:
            rows = [decode(WatchedRun, r) for r in self._runs.values()]
        rows = [r for r in rows if not r.final and r.next_check <= due]
        return sorted(rows, key=lambda r: (r.next_check, r.key))[:limit]

    def runs(self, limit: int = 50) -> list[WatchedRun]:
        with self._lock:
            rows = [decode(WatchedRun, r) for r in self._runs.values()]
        return sorted(rows, key=lambda r: (r.triggered_at, r.key), reverse=True)[:limit]

    def join(
        self, pipeline: str, partition: str, member: Member | None, now: datetime
    ) -> tuple[BatchWindow, bool]:
        with self._lock:
            if member is not None and (pipeline, member.key) in self._members:
                part, epoch, _ = self._members[(pipeline, member.key)]
                return decode(BatchWindow, self._windows[(pipeline, part, epoch)]), False
            head = self._heads.get((pipeline, partition))
            current = None if head is None else self._windows[(pipeline, partition, head)]
            window = None if current is None else decode(BatchWindow, current)
            if window is None or window.state != "open":
                epoch = 0 if head is None else head + 1
                window = batch.opened(pipeline, partition, epoch, now)
                self._heads[(pipeline, partition)] = epoch
            window = batch.joined(window, now, member is not None, member is None)
            self._windows[(pipeline, partition, window.epoch)] = encode(window)
            if member is not None:
                self._members[(pipeline, member.key)] = (partition, window.epoch, encode(member))
            return window, True

    def window(self, pipeline: str, partition: str, epoch: int) -> BatchWindow | None:
        with self._lock:
            found = self._windows.get((pipeline, partition, epoch))
        return None if found is None else decode(BatchWindow, found)

    def windows(
        self, states: Sequence[str], pipeline: str | None = None, limit: int = 100
    ) -> list[BatchWindow]:
        with self._lock:
            rows = [decode(BatchWindow, w) for w in self._windows.values()]
        rows = [w for w in rows if w.state in states and pipeline in (None, w.pipeline)]
        rows.sort(key=lambda w: (w.opened_at, w.epoch), reverse=True)
        return rows[:limit]

    def members(self, pipeline: str, partition: str, epoch: int) -> list[Member]:
        with self._lock:
            rows = [
                (seq, m)
                for seq, ((p, _), (part, e, m)) in enumerate(self._members.items())
                if p == pipeline and part == partition and e == epoch
            ]
        return [decode(Member, m) for _, m in rows]

    def advance(
        self, window: BatchWindow, version: int, found: Sequence[Member] = ()
    ) -> BatchWindow:
        where = (window.pipeline, window.partition, window.epoch)
        with self._lock:
            stored = self._windows.get(where)
            current = None if stored is None else decode(BatchWindow, stored).version
            if current != version:
                raise Conflict(f"window {window.label}: version {version} is stale ({current})")
            for m in found:
                self._members.setdefault(
                    (window.pipeline, m.key), (window.partition, window.epoch, encode(m))
                )
            count = sum(
                1 for (p, _), (part, e, _) in self._members.items()
                if p == window.pipeline and part == window.partition and e == window.epoch
            )  # fmt: skip
            window = replace(window, count=count)
            self._windows[where] = encode(window)
        return window
