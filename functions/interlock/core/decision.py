"""Core layer: what a decision is — collected whole before anything is applied."""

from __future__ import annotations

from dataclasses import dataclass

from interlock.core.effects import Effect
from interlock.core.events import ModelEvaluated, OutcomeKind
from interlock.core.state import ModelState


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
        """This decision, naming the evaluation it judged. A copy without re-running `__init__`
        (Decision has no `__post_init__`): every decision on an evaluation makes one."""
        new = object.__new__(Decision)
        new.__dict__.update(self.__dict__)
        new.__dict__["judged"] = ev
        return new
