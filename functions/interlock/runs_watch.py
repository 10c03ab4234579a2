"""Runner layer: the tick's runs chore — read back the runs interlock started, record how they ended.

Each due `WatchedRun` (`core.runs`), soonest first and at most `BATCH` a tick, is worked under its
own lease and re-read under it (a concurrent tick that has it, or has finished it, wins). Airflow's
answer decides: still queued or running → looked at again later; success or failed → the
`run_succeeded` / `run_failed` outcome is recorded once under the run's key, published on the
decisions topic, then the record is marked final; a run Airflow no longer has, or one unfinished
past the watch limit, ends as `run_failed` saying so. Record, publish, mark final, in that order: a
crash in between repeats the publish (same CloudEvent id), never loses it.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable

from interlock.core.errors import PermanentError, TransientError
from interlock.core.events import Outcome
from interlock.core.outcome import run_ended_outcome, run_lost_outcome, run_unwatched_outcome
from interlock.core.runs import WatchedRun, checked, ended, watch_limit
from interlock.handlers import Handler
from interlock.log import log
from interlock.ports import FINISHED_RUN_STATES

BATCH = 50  # runs read back per tick; Airflow answers each in well under a second


class RunsWatch:
    name = "runs"

    def __init__(self, batch: int = BATCH, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.batch = batch
        self._monotonic = monotonic

    def run(self, handler: Handler, deadline: float) -> Counter[str]:
        report: Counter[str] = Counter()
        for run in handler.ports.ledger.watched(handler.clock(), limit=self.batch):
            if self._monotonic() >= deadline:
                report["left"] += 1
                continue
            report[self._one(handler, run)] += 1
        return report

    def _one(self, handler: Handler, listed: WatchedRun) -> str:
        ledger = handler.ports.ledger
        holder = uuid.uuid4().hex
        if not ledger.acquire(listed.key, holder, handler.lease_ttl_s, handler.clock()):
            return "busy"
        try:
            run = ledger.watched_run(listed.key)
            if run is None or run.final:
                return "gone"
            if run.next_check > handler.clock():
                return "busy"  # another tick looked at it between our listing and our lease
            return self._read_back(handler, run)
        except TransientError as err:
            log("WARNING", "runs: read-back deferred", key=listed.key, reason=err.reason)
            return "deferred"
        finally:
            try:
                ledger.release(listed.key, holder)
            except TransientError as err:
                log("WARNING", "runs: lease not released; it expires by its TTL",
                    key=listed.key, reason=err.reason)  # fmt: skip

    def _read_back(self, handler: Handler, run: WatchedRun) -> str:
        ledger, now = handler.ports.ledger, handler.clock()
        limit = watch_limit(handler.policy.pending)
        try:
            airflow = handler.ports.dags.get_run(run.dag_id, run.run_id)
        except TransientError as err:
            if now - run.triggered_at < limit:
                ledger.update_run(checked(run, run.state, now))
                log("WARNING", "runs: Airflow unavailable; read again later", key=run.key,
                    reason=err.reason)  # fmt: skip
                return "unavailable"
            return self._end(handler, run, run_unwatched_outcome(run, run.state, limit, now))
        except PermanentError as err:
            if err.field == "run_id":
                return self._end(handler, run, run_lost_outcome(run, err.reason, now))
            # Configuration (credentials, API version): fixable, so keep watching meanwhile.
            log("ERROR", "runs: cannot read the run back", key=run.key, field=err.field,
                reason=err.reason)  # fmt: skip
            if now - run.triggered_at < limit:
                ledger.update_run(checked(run, run.state, now))
                return "error"
            return self._end(handler, run, run_unwatched_outcome(run, run.state, limit, now))
        if airflow.state in FINISHED_RUN_STATES:
            outcome = run_ended_outcome(
                run, airflow.state, airflow.failed_tasks, airflow.end_date, now
            )
            return self._end(handler, run, outcome)
        if now - run.triggered_at >= limit:
            return self._end(handler, run, run_unwatched_outcome(run, airflow.state, limit, now))
        ledger.update_run(checked(run, airflow.state, now))
        return "running"

    @staticmethod
    def _end(handler: Handler, run: WatchedRun, outcome: Outcome) -> str:
        ledger = handler.ports.ledger
        stored = ledger.record(run.key, outcome)
        handler.publish(stored)
        # The most specific reason (the failed task and its error) is the outcome's last one.
        reason = stored.reasons[-1] if stored.kind == "run_failed" else None
        ledger.update_run(ended(run, stored.kind, reason, handler.clock()))
        log("INFO" if stored.kind == "run_succeeded" else "WARNING", "run ended", key=run.key,
            kind=stored.kind, reasons=list(stored.reasons))  # fmt: skip
        return stored.kind
