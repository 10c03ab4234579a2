"""Runner layer: batch windows through the ports — join on a landing, close into one DAG run.

Closing is resumable from any point, by any number of racing workers (a landing that made the
window due, the tick's `CloseWindows` chore, a re-driven pending event, a manual close):
OPEN → CLOSING is a compare-and-set; the listing reconcile is recorded once (`reconciled`), so
membership is final before the manifest is built; the manifest is written create-only and a
retry that finds it compares the sha256; the run id follows from the window, so Airflow answers
a second trigger with the same run; CLOSING → TRIGGERED is a compare-and-set again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from interlock.core import batch
from interlock.core.batch import BatchWindow, CloseReason
from interlock.core.effects import CloseWindow, JoinWindow
from interlock.core.errors import PermanentError
from interlock.core.policy import Pipeline
from interlock.log import log
from interlock.ports import FINISHED_RUN_STATES, Conflict, Ports

CLOSE_AT_ONCE: tuple[CloseReason, ...] = ("sentinel", "max_objects")  # the tick does the timers
CAS_ATTEMPTS = 8


class Windows:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def join(self, effect: JoinWindow) -> str:
        """Membership first (create-if-absent), then close at once if that made the window due."""
        p, b = effect.pipeline, effect.pipeline.batch
        assert b is not None
        window, added = self.ports.ledger.join(p.name, effect.partition, effect.member, effect.at)
        what = effect.member.uri if effect.member else f"sentinel {b.sentinel}"
        said = f"{what} {'joined' if added else 'already in'} window {window.label}"
        if window.state == "closing":  # a close was interrupted: this delivery finishes it
            return f"{said}; {self.finish(p, window)}"
        reason = batch.due(window, b, effect.at)
        if reason in CLOSE_AT_ONCE:
            return f"{said}; {self.close(p, window, reason, effect.at)}"
        if window.state == "triggered":
            return f"{said} (triggered: DAG {p.dag_id} run {window.run_id})"
        return f"{said} ({window.count} object(s), open)"

    def close_by_hand(self, effect: CloseWindow) -> str:
        """`interlock close`: every open (or interrupted) window asked for, closed now."""
        p = effect.pipeline
        found = [
            w for w in self.ports.ledger.windows(("open", "closing"), p.name)
            if effect.partition is None or w.partition == effect.partition
        ]  # fmt: skip
        if not found:
            which = f"window {effect.partition}" if effect.partition is not None else "window"
            return f"pipeline {p.name} has no open {which}: nothing to close"
        said = [
            self.finish(p, w) if w.state == "closing" else self.close(p, w, "manual", effect.at)
            for w in found
        ]
        return "; ".join(said)

    def close(self, p: Pipeline, window: BatchWindow, reason: CloseReason, now: datetime) -> str:
        """OPEN → CLOSING unless a member joined since `window` was read, then finish it."""
        assert p.batch is not None
        if p.batch.while_running == "coalesce" and reason != "manual":
            busy = self.previous_running(p, window)
            if busy is not None:
                return f"window {window.label} held open: {busy} (while_running: coalesce)"
        try:
            window = self.ports.ledger.advance(batch.closing(window, reason, now), window.version)
        except Conflict:
            current = self.ports.ledger.window(p.name, window.partition, window.epoch)
            if current is None or current.state == "open":
                return f"window {window.label} changed while closing; the next check closes it"
            window = current
        return self.finish(p, window)

    def finish(self, p: Pipeline, window: BatchWindow) -> str:
        """CLOSING → TRIGGERED: reconcile once, manifest create-only, trigger, record. Idempotent."""
        for _ in range(CAS_ATTEMPTS):
            if window.state == "triggered":
                return _said(p, window)
            try:
                return self._finish(p, window)
            except Conflict:
                current = self.ports.ledger.window(p.name, window.partition, window.epoch)
                assert current is not None
                window = current
        raise Conflict(f"window {window.label}: lost {CAS_ATTEMPTS} races in a row")

    def _finish(self, p: Pipeline, window: BatchWindow) -> str:
        ledger, storage = self.ports.ledger, self.ports.storage
        assert p.batch is not None
        if not window.reconciled:
            # A full window has no room for what the listing would add: skip the listing.
            full = window.count >= p.batch.max_objects
            listing = [] if full else storage.list(p.bucket, p.prefix)
            found = batch.listed_members(
                p, window, listing, self._known(p, window) if listing else ()
            )
            marked = replace(window, reconciled=True, version=window.version + 1)
            window = ledger.advance(marked, window.version, found)
        members = ledger.members(p.name, window.partition, window.epoch)
        if not members:
            done = ledger.advance(batch.triggered(window, "", "", ""), window.version)
            return _said(p, done)
        body = batch.manifest(window, members)
        digest, name = batch.sha256(body), batch.manifest_name(window)
        if not storage.create(p.bucket, name, body, "application/json"):
            existing = storage.read(p.bucket, name)
            if existing is None or batch.sha256(existing) != digest:
                raise PermanentError(
                    "manifest",
                    f"gs://{p.bucket}/{name} exists with other content than window "
                    f"{window.label}'s {len(members)} member(s): not overwritten, not triggered",
                )
        uri = f"gs://{p.bucket}/{name}"
        run_id = batch.run_id(window)
        run = self.ports.dags.trigger(
            p.dag_id, run_id, batch.conf(p, window, uri, digest, len(members))
        )
        done = ledger.advance(batch.triggered(window, run.run_id, uri, digest), window.version)
        log("INFO", "batch window triggered", window=done.label, reason=done.close_reason,
            count=done.count, manifest=uri, run_id=run.run_id)  # fmt: skip
        return _said(p, done)

    def _known(self, p: Pipeline, window: BatchWindow) -> set[str]:
        """Member keys of every epoch of this window's partition (an object's partition follows
        from its name, so no other partition holds it)."""
        ledger = self.ports.ledger
        epochs = [
            w.epoch for w in ledger.windows(("open", "closing", "triggered"), p.name, limit=100_000)
            if w.partition == window.partition
        ]  # fmt: skip
        return {m.key for e in epochs for m in ledger.members(p.name, window.partition, e)}

    def previous_running(self, p: Pipeline, window: BatchWindow) -> str | None:
        """The pipeline's last triggered run, when it has not finished yet (None: go ahead)."""
        earlier = [
            w for w in self.ports.ledger.windows(("triggered",), p.name, limit=10)
            if w.run_id and w.label != window.label
        ]  # fmt: skip
        if not earlier:
            return None
        last = max(earlier, key=lambda w: w.closed_at or w.opened_at)
        reader = getattr(self.ports.dags, "get_run", None)
        if reader is None:
            log("WARNING", "while_running: coalesce needs run read-back; queued instead",
                pipeline=p.name)  # fmt: skip
            return None
        run = self.ports.dags.get_run(p.dag_id, str(last.run_id))
        if run.state in FINISHED_RUN_STATES:
            return None
        return f"previous run {last.run_id} is {run.state}"


def _said(p: Pipeline, w: BatchWindow) -> str:
    if not w.run_id:
        return f"window {w.label} closed ({w.close_reason}) with no object: no run"
    return (
        f"window {w.label} closed ({w.close_reason}): {w.count} object(s) in {w.manifest_uri} "
        f"→ DAG {p.dag_id} run {w.run_id}"
    )
