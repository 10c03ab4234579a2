"""Core layer: what a decision is — collected whole before anything is applied."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from interlock.core.effects import Effect
from interlock.core.events import ModelEvaluated, OutcomeKind
from interlock.core.state import ModelState
from interlock.core.values import fast_init


@fast_init
@dataclass(frozen=True)
class Decision:
    """A decision: the runner applies `effects` in order, then commits `state` with the outcome."""

    kind: OutcomeKind
    subject: str
    reasons: tuple[str, ...]
    effects: tuple[Effect, ...] = ()
    state: ModelState | None = None  # the model's next state; None leaves it unchanged
    manual: bool = False
    # Recorded instead when a `SmokeCheck` effect fails (`core.smoke`); None: no smoke check.
    on_smoke_failure: Decision | None = None
    # The evaluation decided on (the gate's decisions): its outcome references the version's
    # run, input and dataset (`Outcome.trained`).
    judged: ModelEvaluated | None = None

    def judging(self, ev: ModelEvaluated) -> Decision:
        """This decision, naming the evaluation it judged: every decision on an evaluation
        makes one."""
        return self.replace(judged=ev)

    def replace(self, **changes: object) -> Decision:
        """`dataclasses.replace` without re-running `__init__` field by field (a replay's
        decision is the replayed one, re-labelled); Decision has no `__post_init__` to honour."""
        if not _DECISION_FIELDS.issuperset(changes):
            unknown = sorted(changes.keys() - _DECISION_FIELDS)
            raise TypeError(f"Decision has no field {unknown[0]!r}")
        new = object.__new__(Decision)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new


_DECISION_FIELDS = frozenset(f.name for f in dataclasses.fields(Decision))
