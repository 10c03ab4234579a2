"""Runner layer: the observer chore — Cloud Run's live metrics become `model.observed` windows.

On each tick, for every model with `observe:` and every revision holding traffic by the ledger
(champion, candidate), the closed windows (`core.observe.window_ends`) after the last one the
guard decided are read from Cloud Monitoring and handed, oldest first, to `Handler.handle` —
the same unit of work as a pushed `model.observed`: its idempotency key is the revision and the
window's end, so a twin, late or concurrent tick meets the record of the first, and the guard's
own rule (a window must advance per revision) refuses a window decided already. Points arriving
after `delay` never re-decide a window: it is past the cursor (the ledger's windows). A
Monitoring outage defers the whole model to the next tick, deciding nothing: the guard stays
where it was, never healthier.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from interlock.core.errors import PermanentError
from interlock.core.events import ModelObserved
from interlock.core.inbound import Inbound
from interlock.core.kinds import BY_PAYLOAD
from interlock.core.observe import event_id, observed, window_ends, window_of
from interlock.core.policy import ModelPolicy
from interlock.core.state import ModelState
from interlock.handlers import Handler
from interlock.log import log

SOURCE = "//interlock/observer"
# After these the roles or the state may have changed: the next tick reads them afresh.
_MOVED = frozenset({"advanced", "promoted", "rolled_back", "rejected", "pending", "dead_lettered"})
_TYPE = BY_PAYLOAD[ModelObserved].ce_type


def serving(state: ModelState) -> list[tuple[str, str, datetime | None]]:
    """(revision, version, since) of each revision holding traffic, candidate first."""
    out = []
    if state.candidate is not None:
        c = state.candidate
        out.append((c.revision, c.version, c.since))
    if state.champion is not None:
        ch = state.champion
        out.append((ch.revision, ch.version, ch.since))
    return out


class Observer:
    name = "observe"

    def run(self, handler: Handler, deadline: float) -> Counter[str]:
        import time

        done: Counter[str] = Counter()
        for mp in handler.policy.models:
            if mp.observe is None:
                continue
            if time.monotonic() >= deadline:
                done["left"] += 1
                continue
            try:
                done.update(self._model(handler, mp))
            except PermanentError as err:  # e.g. the tick's identity cannot read Monitoring
                log("ERROR", "observe: cannot read the metrics", model=mp.name,
                    field=err.field, reason=err.reason)  # fmt: skip
                done["failed"] += 1
        return done

    def _model(self, handler: Handler, mp: ModelPolicy) -> Counter[str]:
        assert mp.observe is not None
        window_s, delay_s = mp.observe.window_s, mp.observe.delay_s
        now = handler.clock()
        state = handler.ports.ledger.load(mp.name).state
        due = {
            revision: (version, ends)
            for revision, version, since in serving(state)
            if (
                ends := window_ends(
                    now, window_s, delay_s, state.last_window_end(revision), since
                )
            )
        }  # fmt: skip
        done: Counter[str] = Counter()
        if not due:
            return done
        step = timedelta(seconds=window_s)
        start = min(ends[0] for _, ends in due.values()) - step
        end = max(ends[-1] for _, ends in due.values())
        # Down → TransientError: the tick defers this chore, nothing is decided.
        windows = handler.ports.metrics.windows(mp.service, sorted(due), start, end, window_s)
        for revision, (version, ends) in due.items():
            for w_end in ends:
                window = window_of(windows, revision, w_end - step, w_end)
                payload = observed(mp.name, version, window)
                event = Inbound(
                    id=event_id(revision, w_end), type=_TYPE, source=SOURCE, time=w_end,
                    payload=payload,
                )  # fmt: skip
                outcome = handler.handle(event)
                done[outcome.kind] += 1
                if outcome.kind in _MOVED:
                    return done  # roles changed: the next tick reads the new state
        return done
