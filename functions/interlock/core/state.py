"""Core layer: what interlock remembers per model, changed only under a per-model compare-and-set.

The state is a frozen value; decisions return a new one. It round-trips through `codec` so the
ledger stores it as plain JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from interlock.core.events import ModelEvaluated

Verdict = Literal["healthy", "breach", "inconclusive"]


@dataclass(frozen=True)
class EvaluationRecord:
    """The evaluation a serving version was promoted on: the baseline for relative rules."""

    version: str
    dataset_id: str
    sample_count: int
    metrics: Mapping[str, float]
    run_id: str


@dataclass(frozen=True)
class Serving:
    version: str
    revision: str
    evaluation: EvaluationRecord | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class Candidate:
    version: str
    revision: str
    step: int
    healthy_windows: int = 0
    evaluation: EvaluationRecord | None = None
    manual: bool = False
    since: datetime | None = None


@dataclass(frozen=True)
class Window:
    end: datetime
    verdict: Verdict


@dataclass(frozen=True)
class Held:
    """A good evaluation the gate held (cooldown or pause), re-decided when the hold ends."""

    evaluation: ModelEvaluated
    until: datetime | None = None  # end of the cooldown that held it; None: held by a pause


HELD_LIMIT = 5  # the newest few: an older one would be stale after the newest is promoted


@dataclass(frozen=True)
class ModelState:
    champion: Serving | None = None
    previous: Serving | None = None
    candidate: Candidate | None = None
    # Recent windows per revision, oldest first, capped at the policy's M.
    windows: Mapping[str, tuple[Window, ...]] = field(default_factory=dict)
    inconclusive_streak: int = 0
    rollbacks: tuple[datetime, ...] = ()
    cooldown_until: datetime | None = None
    guard_until: datetime | None = None
    paused: bool = False
    paused_reason: str | None = None
    # Versions aborted or rolled back: never promoted again automatically.
    rejected_versions: tuple[str, ...] = ()
    # Held promotions, newest first (`held.py`, a tick chore, re-decides them when due).
    held: tuple[Held, ...] = ()

    def replace(self, **changes: object) -> ModelState:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def role_of(self, revision: str) -> Literal["champion", "candidate"] | None:
        if self.candidate is not None and self.candidate.revision == revision:
            return "candidate"
        if self.champion is not None and self.champion.revision == revision:
            return "champion"
        return None

    def last_window_end(self, revision: str) -> datetime | None:
        seen = self.windows.get(revision, ())
        return seen[-1].end if seen else None


def version_key(version: str) -> int:
    """Vertex version ids are increasing integers; compare them as numbers, not strings."""
    return int(version)
