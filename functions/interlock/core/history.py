"""Core layer: what served a model when — from the traffic block every decision records.

Each outcome that moved traffic carries the whole block once applied (`Outcome.traffic`), so the
split in force at time T is the block of the last such decision at or before T. The same rule
is the documented BigQuery query over the decisions archive (docs/operations.md, "Lineage").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from interlock.core.events import Outcome, Share


@dataclass(frozen=True)
class Served:
    """A traffic block in force from `since` (when `decision` applied it) until `until`."""

    since: datetime
    until: datetime | None  # None: still in force (as far as the ledger knows)
    shares: tuple[Share, ...]
    decision: Outcome

    def share_of(self, version: str) -> int:
        return sum(s.percent for s in self.shares if s.version == version)


def oldest_first(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """Outcomes as the ledger lists them (newest first) in time order; two decided in the same
    microsecond keep the ledger's order."""
    return sorted(reversed(list(outcomes)), key=lambda o: o.decided_at)


def periods(outcomes: Iterable[Outcome]) -> list[Served]:
    """Every traffic block the ledger recorded for one model (newest first), oldest first."""
    moves = [o for o in oldest_first(outcomes) if o.traffic]
    ends = [o.decided_at for o in moves[1:]]
    return [
        Served(o.decided_at, ends[i] if i < len(ends) else None, o.traffic, o)
        for i, o in enumerate(moves)
    ]


def served_at(outcomes: Iterable[Outcome], at: datetime) -> Served | None:
    """The block in force at `at`; None when no recorded decision had set traffic by then."""
    found = None
    for period in periods(outcomes):
        if period.since > at:
            break
        found = period
    return found


def served_between(outcomes: Iterable[Outcome], start: datetime, end: datetime) -> list[Served]:
    """The block in force at `start`, then every block a decision set until `end`."""
    return [p for p in periods(outcomes) if p.since <= end and (p.until is None or p.until > start)]


def serving_version(outcomes: Iterable[Outcome]) -> Share | None:
    """The share serving most now (the champion's, at a canary's first steps): the newest block's
    largest; None when no recorded decision set traffic."""
    blocks = periods(outcomes)
    if not blocks:
        return None
    live = [s for s in blocks[-1].shares if s.percent > 0]
    return max(live, key=lambda s: (s.percent, s.tag == "champion"), default=None)
