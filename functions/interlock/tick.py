"""Runner layer: the tick — re-drive the pending events that are due, through the unit of work.

Cloud Scheduler publishes a tick every minute (`on_tick`). Each tick takes the due pending
events, soonest first, and hands each back to `Handler.handle` with a small retry budget: the
event is re-decided from the current state (every effect idempotent, run ids deterministic), and
either reaches a final outcome (unparked), fails again (parked with a longer wait) or, past the
policy's `pending.give_up_after`, is dead-lettered with its whole story.

After the re-drives, the tick runs its chores (`Chore`: reading run outcomes back, closing batch
windows, observing live metrics — each in its own module, composed in `bootstrap.ticker`), each
with what is left of the tick's budget. A chore's counts are reported as `chore.kind`.

The tick records nothing itself. Concurrent ticks (or a tick delivered twice) race safely: each
item is worked under its own lease, re-read under that lease, and skipped when another tick has
it or has already advanced it; a Pub/Sub redelivery racing a tick meets the same record-once
ledger as any twin delivery.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from interlock.apply import EffectApplier
from interlock.core.errors import PermanentError, TransientError
from interlock.core.pending import Pending, inbound_of, original_of
from interlock.handlers import Handler
from interlock.log import log

ITEM_BUDGET_S = 5.0  # in-process retries per re-driven event: the upstream was down a minute ago
TICK_BUDGET_S = 40.0  # stop starting new items well inside the tick period (one minute)
BATCH = 100  # due items read per tick; the rest wait for the next one


class Chore(Protocol):
    """Periodic work of the tick. Idempotent: ticks come twice, late, and concurrently."""

    name: str

    def run(self, handler: Handler, deadline: float) -> Counter[str]:
        """Do what is due; start nothing new once `monotonic() >= deadline`."""
        ...


def standard_chores() -> list[Chore]:
    """The tick's periodic work after re-drives, in order. Each chore's module is imported here,
    on the tick's path only (cold start of the other functions never pays for it)."""
    from interlock.held_chore import HeldPromotions
    from interlock.observer import Observer
    from interlock.runs_watch import RunsWatch
    from interlock.window_chore import CloseWindows

    # Live metrics first: a breaching canary is the most urgent thing a tick can find.
    return [Observer(), HeldPromotions(), CloseWindows(), RunsWatch()]


class Ticker:
    def __init__(
        self,
        handler: Handler,
        item_budget_s: float = ITEM_BUDGET_S,
        tick_budget_s: float = TICK_BUDGET_S,
        batch: int = BATCH,
        monotonic: Callable[[], float] = time.monotonic,
        chores: Sequence[Chore] = (),
    ) -> None:
        self.handler = handler
        self.applier = EffectApplier(handler.ports, item_budget_s)
        self.tick_budget_s = tick_budget_s
        self.batch = batch
        self.chores = tuple(chores)
        self._monotonic = monotonic

    def tick(self) -> Counter[str]:
        """What became of each due item: its outcome kind, or busy / gone / left (for later)."""
        ledger = self.handler.ports.ledger
        deadline = self._monotonic() + self.tick_budget_s
        report: Counter[str] = Counter()
        for item in ledger.parked(limit=self.batch, due=self.handler.clock()):
            if self._monotonic() >= deadline:
                report["left"] += 1
                continue
            report[self._redrive(item)] += 1
        for chore in self.chores:
            if self._monotonic() >= deadline:
                report[f"{chore.name}.left"] += 1
                continue
            try:
                done = chore.run(self.handler, deadline)
            except TransientError as err:  # its upstream is down: the next tick tries again
                log("WARNING", "tick: chore deferred", chore=chore.name, reason=err.reason)
                done = Counter(deferred=1)
            report.update({f"{chore.name}.{kind}": n for kind, n in done.items()})
        if report:
            log("INFO", "tick", **dict(report))
        return report

    def _redrive(self, item: Pending) -> str:
        ledger = self.handler.ports.ledger
        subject, holder = f"pending:{item.key}", uuid.uuid4().hex
        if not ledger.acquire(subject, holder, self.handler.lease_ttl_s, self.handler.clock()):
            return "busy"  # another tick has it
        try:
            current = ledger.pending(item.key)
            # Another tick finished it, or advanced it, between our listing and our lease.
            if current is None:
                return "gone"
            if current.next_attempt > self.handler.clock():
                return "busy"
            return self._handle(current)
        except TransientError as err:
            # The ledger itself, or a busy model: it stays parked, due, for the next tick.
            log("WARNING", "tick: re-drive deferred", key=item.key, reason=err.reason)
            return "busy"
        finally:
            try:
                ledger.release(subject, holder)
            except TransientError as err:
                log("WARNING", "tick: lease not released; it expires by its TTL",
                    key=item.key, reason=err.reason)  # fmt: skip

    def _handle(self, current: Pending) -> str:
        ledger = self.handler.ports.ledger
        try:
            event = inbound_of(current)
        except PermanentError as err:  # a record this version cannot read: keep it visible
            self.handler.dead_letter(current.event_id, current.event_type, current.key, err, None)
            ledger.unpark(current.key)
            return "dead_lettered"
        outcome = self.handler.handle(
            event, original_of(current), applier=self.applier, received_at=current.first_failed
        )
        if outcome.kind != "pending":
            ledger.unpark(current.key)
        return outcome.kind
