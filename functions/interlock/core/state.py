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
from interlock.core.values import fast_init

Verdict = Literal["healthy", "breach", "inconclusive"]


@fast_init
@dataclass(frozen=True)
class EvaluationRecord:
    """The evaluation a serving version was promoted on: the baseline for relative rules."""

    version: str
    dataset_id: str
    sample_count: int
    metrics: Mapping[str, float]
    run_id: str


@fast_init
@dataclass(frozen=True)
class Serving:
    version: str
    revision: str
    evaluation: EvaluationRecord | None = None
    since: datetime | None = None


@fast_init
@dataclass(frozen=True)
class Candidate:
    version: str
    revision: str
    step: int
    healthy_windows: int = 0
    evaluation: EvaluationRecord | None = None
    manual: bool = False
    since: datetime | None = None
    # Waiting for `interlock approve` before the next step (the policy's `approve`), since when.
    awaiting_since: datetime | None = None
    approval_timed_out: bool = False


@fast_init
@dataclass(frozen=True)
class Window:
    end: datetime
    verdict: Verdict


@fast_init
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
    # Who paused on purpose (`interlock pause`); None: automation paused itself (max_rollbacks).
    paused_by: str | None = None
    # The newest passing-or-not evaluation held by a pause, freeze or cooldown: re-decided when
    # the hold ends (on resume, or by the tick's held-promotions chore).
    held: ModelEvaluated | None = None
    # Versions aborted or rolled back: never promoted again automatically.
    rejected_versions: tuple[str, ...] = ()

    def replace(self, **changes: object) -> ModelState:
        """`dataclasses.replace` without re-running `__init__` field by field: every decision
        makes one or two, and ModelState has no `__post_init__` to honour."""
        if not _STATE_FIELDS.issuperset(changes):
            unknown = sorted(changes.keys() - _STATE_FIELDS)
            raise TypeError(f"ModelState has no field {unknown[0]!r}")
        new = object.__new__(ModelState)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def role_of(self, revision: str) -> Literal["champion", "candidate"] | None:
        if self.candidate is not None and self.candidate.revision == revision:
            return "candidate"
        if self.champion is not None and self.champion.revision == revision:
            return "champion"
        return None

    def last_window_end(self, revision: str) -> datetime | None:
        seen = self.windows.get(revision, ())
        return seen[-1].end if seen else None


_STATE_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelState))


def version_key(version: str) -> int:
    """Vertex version ids are increasing integers; compare them as numbers, not strings."""
    return int(version)
