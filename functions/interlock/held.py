"""Runner layer: the tick's chore that re-decides held promotions once their hold ends.

A good evaluation that arrives during a cooldown (or a pause) is decided `held`, and the gate
keeps it in the model's state (`ModelState.held`, newest first). Each tick, for each model whose
hold has ended, the newest held evaluation is decided again, as if it arrived now: promoted,
rejected, stale or expired, like any other. One per model per tick: after the newest is promoted
the older ones are stale, and say so on the following ticks. The re-decision is recorded under
its own key (`released:` + the evaluation's key + the hold's end), so twin ticks decide it once.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from interlock.core.codec import format_time
from interlock.core.keys import payload_key
from interlock.core.state import Held, ModelState


def released(state: ModelState, now: datetime) -> Held | None:
    """The held evaluation to re-decide now: the newest, once neither a cooldown nor a pause holds."""
    if not state.held or state.paused:
        return None
    if state.cooldown_until is not None and now < state.cooldown_until:
        return None
    return state.held[0]


def release_key(held: Held) -> str:
    until = format_time(held.until) if held.until else "pause"
    return f"released:{payload_key(held.evaluation)}@{until}"


class HeldPromotions:
    name = "held"

    def run(self, handler: Any, deadline: float) -> Counter[str]:
        import time

        from interlock.core.events import PREFIX
        from interlock.core.inbound import Inbound

        done: Counter[str] = Counter()
        for mp in handler.policy.models:
            if time.monotonic() >= deadline:
                done["left"] += 1
                continue
            held = released(handler.ports.ledger.load(mp.name).state, handler.clock())
            if held is None:
                continue
            key = release_key(held)
            event = Inbound(id=key, type=PREFIX + "model.evaluated.v1", source="//interlock/tick",
                            time=held.evaluation.evaluated_at, payload=held.evaluation)  # fmt: skip
            done[handler.redecide(event, key).kind] += 1
        return done
