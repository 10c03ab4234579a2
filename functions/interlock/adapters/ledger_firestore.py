"""Adapters layer: the decision ledger in Firestore (native mode), the deployed `Ledger`.

Documents: `{prefix}models/{model}` {etag (the state's version counter), state}, `{prefix}decisions/{key}` {key, subject,
kind, decided_at, outcome}, `{prefix}leases/{subject}` {holder, expires_at}, `{prefix}pending/{key}` {key, next_attempt,
record}, `{prefix}runs/{key}` {key, next_check (null once final), triggered_at, record}; state, record and outcome are
the codec's JSON text, so they round-trip exactly (no Firestore type coercion).

Batch windows: `{prefix}windows/{pipeline␟partition␟epoch}` {pipeline, partition, epoch, state,
opened_at, version, record}, `{prefix}window_heads/{pipeline␟partition}` {epoch} (the latest),
`{prefix}members/{pipeline␟key}` {pipeline, partition, epoch, record}: one member document per
object generation and pipeline, so a member is created once and belongs to one epoch.

Compare-and-set is optimistic: read, then one atomic batch whose writes carry preconditions
(`update_time` of what was read, or "must not exist"). Firestore's server-side transactions are
pessimistic: two contending ones wait on each other's locks until one is ABORTED ("Transaction
lock timeout", about 2 s each on the emulator; 12 contended increments took 18 s there against
0.2 s with preconditions). A failed precondition is exactly a lost race: `Conflict`.

`outcomes(subject)` filters on `subject` and orders by `decided_at`: deployed Firestore needs a
composite index (subject ASC, decided_at DESC) on `{prefix}decisions`; the emulator does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import urllib.parse
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from interlock.adapters.google_errors import message_of, rpc_status, translate
from interlock.core import batch
from interlock.core.batch import BatchWindow, Member
from interlock.core.codec import decode, encode
from interlock.core.errors import InterlockError, TransientError
from interlock.core.events import Outcome
from interlock.core.pending import Pending
from interlock.core.runs import WatchedRun
from interlock.core.state import ModelState
from interlock.ports import Conflict, Snapshot

DEFAULT_PREFIX = "interlock_"
TIMEOUT_S = 10.0
LEASE_ATTEMPTS = 5
JOIN_ATTEMPTS = 20  # a burst contends on one window document; each loser re-reads and retries
SEP = "\x1f"
LOST_RACE = frozenset({"FAILED_PRECONDITION", "ALREADY_EXISTS", "NOT_FOUND", "ABORTED"})
T = TypeVar("T")
MAX_ID_BYTES = 1000  # Firestore allows 1500; leave room for the escape sequences' growth


def doc_id(name: str) -> str:
    """An injective, always-valid document id (ids may not contain '/', be '.', '..', '__x__')."""
    escaped = urllib.parse.quote(name, safe="")
    if len(escaped.encode()) > MAX_ID_BYTES:
        return "h:" + hashlib.sha256(name.encode()).hexdigest()
    return "k:" + escaped


def _dump(value: object) -> str:
    return json.dumps(encode(value), separators=(",", ":"), sort_keys=True)


class FirestoreLedger:
    """Honours FIRESTORE_EMULATOR_HOST (the client reads it and skips credentials)."""

    def __init__(
        self, project: str, database: str = "(default)", prefix: str = DEFAULT_PREFIX
    ) -> None:
        self.project = project
        self.database = database
        self.prefix = prefix
        self._client: Any = None
        self._lock = threading.Lock()

    def _db(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import firestore

                self._client = firestore.Client(project=self.project, database=self.database)
            return self._client

    def _doc(self, collection: str, name: str) -> Any:
        return self._db().collection(self.prefix + collection).document(doc_id(name))

    def _read(self, collection: str, key: str, field: str, cls: type[T]) -> T | None:
        """One document's codec JSON `field`, decoded; None when there is no such document."""
        try:
            snap = self._doc(collection, key).get(timeout=TIMEOUT_S)
        except Exception as exc:
            raise _translate(exc, f"get {collection} {key!r}") from exc
        return decode(cls, json.loads(snap.get(field))) if snap.exists else None

    def get(self, key: str) -> Outcome | None:
        return self._read("decisions", key, "outcome", Outcome)

    def record(self, key: str, outcome: Outcome) -> Outcome:
        from google.api_core import exceptions as gex

        try:
            self._doc("decisions", key).create(self._decision(key, outcome), timeout=TIMEOUT_S)
        except gex.AlreadyExists:
            stored = self.get(key)
            if stored is None:  # deleted in between: only an operator does that
                raise TransientError(f"decision {key!r} vanished after a create conflict") from None
            return stored
        except Exception as exc:
            raise _translate(exc, f"record decision {key!r}") from exc
        return outcome

    def load(self, model: str) -> Snapshot:
        try:
            snap = self._doc("models", model).get(timeout=TIMEOUT_S)
        except Exception as exc:
            raise _translate(exc, f"load {model}") from exc
        if not snap.exists:
            return Snapshot(ModelState(), 0)
        return Snapshot(decode(ModelState, json.loads(snap.get("state"))), int(snap.get("etag")))

    def commit(
        self, model: str, state: ModelState, version: int, key: str, outcome: Outcome
    ) -> None:
        """See `Ledger.commit`; a key already recorded also raises `Conflict` (a racer decided)."""
        db = self._db()
        ref = self._doc("models", model)
        try:
            snap = ref.get(timeout=TIMEOUT_S)
            current = int(snap.get("etag")) if snap.exists else 0
            if current != version:
                raise Conflict(
                    f"{model}: state version {version} is stale, stored version is {current}"
                )
            fields = {"model": model, "etag": version + 1, "state": _dump(state)}
            batch = db.batch()
            if snap.exists:
                batch.update(ref, fields, option=db.write_option(last_update_time=snap.update_time))
            else:
                batch.create(ref, fields)
            batch.create(self._doc("decisions", key), self._decision(key, outcome))
            batch.commit(timeout=TIMEOUT_S)
        except Conflict:
            raise
        except Exception as exc:
            raise _translate(exc, f"commit {model}", conflict=True) from exc

    def acquire(self, subject: str, holder: str, ttl_s: float, now: datetime) -> bool:
        db = self._db()
        ref = self._doc("leases", subject)
        fields = {
            "subject": subject,
            "holder": holder,
            "expires_at": now + timedelta(seconds=ttl_s),
        }
        for _ in range(LEASE_ATTEMPTS):
            try:
                snap = ref.get(timeout=TIMEOUT_S)
                if snap.exists:
                    if snap.get("holder") != holder and snap.get("expires_at") > now:
                        return False
                    option = db.write_option(last_update_time=snap.update_time)
                    ref.update(fields, option=option, timeout=TIMEOUT_S)
                else:
                    ref.create(fields, timeout=TIMEOUT_S)
                return True
            except Exception as exc:
                err = _translate(exc, f"acquire lease {subject!r}", conflict=True)
                if not isinstance(err, Conflict):
                    raise err from exc
                # Someone wrote the lease between our read and write: read again and decide.
        return False  # contended: the caller waits for the model as for any busy lease

    def release(self, subject: str, holder: str) -> None:
        db = self._db()
        ref = self._doc("leases", subject)
        for _ in range(LEASE_ATTEMPTS):
            try:
                snap = ref.get(timeout=TIMEOUT_S)
                # Only the holder may release: a late release must not free someone else's lease.
                if not snap.exists or snap.get("holder") != holder:
                    return
                ref.delete(option=db.write_option(last_update_time=snap.update_time))
                return
            except Exception as exc:
                err = _translate(exc, f"release lease {subject!r}", conflict=True)
                if not isinstance(err, Conflict):
                    raise err from exc
        raise Conflict(f"lease {subject!r}: lost {LEASE_ATTEMPTS} races in a row")

    def outcomes(self, subject: str | None = None, limit: int = 50) -> list[Outcome]:
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._db().collection(self.prefix + "decisions")
        if subject is not None:
            query = query.where(filter=FieldFilter("subject", "==", subject))
        query = query.order_by("decided_at", direction=firestore.Query.DESCENDING).limit(limit)
        try:
            docs = list(query.stream(timeout=TIMEOUT_S))
        except Exception as exc:
            raise _translate(exc, "list outcomes") from exc
        return [decode(Outcome, json.loads(d.get("outcome"))) for d in docs]

    def park(self, pending: Pending) -> None:
        fields = {
            "key": pending.key,
            "next_attempt": pending.next_attempt,
            "record": _dump(pending),
        }
        try:
            self._doc("pending", pending.key).set(fields, timeout=TIMEOUT_S)
        except Exception as exc:
            raise _translate(exc, f"park {pending.key!r}") from exc

    def pending(self, key: str) -> Pending | None:
        return self._read("pending", key, "record", Pending)

    def parked(self, limit: int = 50, due: datetime | None = None) -> list[Pending]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._db().collection(self.prefix + "pending")
        if due is not None:
            query = query.where(filter=FieldFilter("next_attempt", "<=", due))
        query = query.order_by("next_attempt").limit(limit)
        try:
            docs = list(query.stream(timeout=TIMEOUT_S))
        except Exception as exc:
            raise _translate(exc, "list pending") from exc
        found = [decode(Pending, json.loads(d.get("record"))) for d in docs]
        return sorted(found, key=lambda p: (p.next_attempt, p.key))

    def unpark(self, key: str) -> None:
        try:
            self._doc("pending", key).delete(timeout=TIMEOUT_S)
        except Exception as exc:
            raise _translate(exc, f"unpark {key!r}") from exc

    def watch(self, run: WatchedRun) -> None:
        from google.api_core import exceptions as gex

        try:
            self._doc("runs", run.key).create(self._run(run), timeout=TIMEOUT_S)
        except gex.AlreadyExists:
            return  # kept already: a redelivery's trigger must not reopen the watch
        except Exception as exc:
            raise _translate(exc, f"watch run {run.key!r}") from exc

    def update_run(self, run: WatchedRun) -> None:
        try:
            self._doc("runs", run.key).set(self._run(run), timeout=TIMEOUT_S)
        except Exception as exc:
            raise _translate(exc, f"update run {run.key!r}") from exc

    def watched_run(self, key: str) -> WatchedRun | None:
        return self._read("runs", key, "record", WatchedRun)

    def watched(self, due: datetime, limit: int = 50) -> list[WatchedRun]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        # A final run's next_check is null: a range filter on timestamps never matches it.
        query = self._db().collection(self.prefix + "runs")
        query = query.where(filter=FieldFilter("next_check", "<=", due))
        query = query.order_by("next_check").limit(limit)
        found = [decode(WatchedRun, json.loads(d.get("record"))) for d in self._stream(query)]
        return sorted(found, key=lambda r: (r.next_check, r.key))

    def runs(self, limit: int = 50) -> list[WatchedRun]:
        from google.cloud import firestore

        query = self._db().collection(self.prefix + "runs")
        query = query.order_by("triggered_at", direction=firestore.Query.DESCENDING).limit(limit)
        found = [decode(WatchedRun, json.loads(d.get("record"))) for d in self._stream(query)]
        return sorted(found, key=lambda r: (r.triggered_at, r.key), reverse=True)

    @staticmethod
    def _stream(query: Any) -> list[Any]:
        try:
            return list(query.stream(timeout=TIMEOUT_S))
        except Exception as exc:
            raise _translate(exc, "list runs") from exc

    @staticmethod
    def _run(run: WatchedRun) -> dict[str, Any]:
        return {
            "key": run.key,
            "next_check": None if run.final else run.next_check,
            "triggered_at": run.triggered_at,
            "record": _dump(run),
        }

    def _window_ref(self, pipeline: str, partition: str, epoch: int) -> Any:
        return self._doc("windows", SEP.join((pipeline, partition, str(epoch))))

    @staticmethod
    def _window_fields(w: BatchWindow) -> dict[str, Any]:
        return {
            "pipeline": w.pipeline, "partition": w.partition, "epoch": w.epoch, "state": w.state,
            "opened_at": w.opened_at, "version": w.version, "record": _dump(w),
        }  # fmt: skip

    def join(
        self, pipeline: str, partition: str, member: Member | None, now: datetime
    ) -> tuple[BatchWindow, bool]:
        db = self._db()
        head_ref = self._doc("window_heads", SEP.join((pipeline, partition)))
        member_ref = (
            None if member is None else self._doc("members", SEP.join((pipeline, member.key)))
        )
        for _ in range(JOIN_ATTEMPTS):
            try:
                if member_ref is not None:
                    found = member_ref.get(timeout=TIMEOUT_S)
                    if found.exists:
                        ref = self._window_ref(pipeline, found.get("partition"), found.get("epoch"))
                        snap = ref.get(timeout=TIMEOUT_S)
                        return decode(BatchWindow, json.loads(snap.get("record"))), False
                head = head_ref.get(timeout=TIMEOUT_S)
                wb = db.batch()
                window: BatchWindow | None = None
                if head.exists:
                    ref = self._window_ref(pipeline, partition, head.get("epoch"))
                    snap = ref.get(timeout=TIMEOUT_S)
                    window = decode(BatchWindow, json.loads(snap.get("record")))
                if window is not None and window.state == "open":
                    window = batch.joined(window, now, member is not None, member is None)
                    option = db.write_option(last_update_time=snap.update_time)
                    wb.update(ref, self._window_fields(window), option=option)
                else:
                    epoch = 0 if window is None else window.epoch + 1
                    opened = batch.opened(pipeline, partition, epoch, now)
                    window = batch.joined(opened, now, member is not None, member is None)
                    wb.create(
                        self._window_ref(pipeline, partition, epoch), self._window_fields(window)
                    )
                    if head.exists:
                        option = db.write_option(last_update_time=head.update_time)
                        wb.update(head_ref, {"epoch": epoch}, option=option)
                    else:
                        wb.create(head_ref, {"epoch": epoch})
                if member_ref is not None and member is not None:
                    wb.create(member_ref, self._member_fields(window, member))
                wb.commit(timeout=TIMEOUT_S)
                return window, True
            except Exception as exc:
                err = _translate(exc, f"join window {pipeline}/{partition}", conflict=True)
                if not isinstance(err, Conflict):
                    raise err from exc
        raise Conflict(f"window {pipeline}/{partition}: lost {JOIN_ATTEMPTS} races in a row")

    @staticmethod
    def _member_fields(w: BatchWindow, m: Member) -> dict[str, Any]:
        return {
            "pipeline": w.pipeline, "partition": w.partition, "epoch": w.epoch, "key": m.key,
            "record": _dump(m),
        }  # fmt: skip

    def window(self, pipeline: str, partition: str, epoch: int) -> BatchWindow | None:
        try:
            snap = self._window_ref(pipeline, partition, epoch).get(timeout=TIMEOUT_S)
        except Exception as exc:
            raise _translate(exc, f"get window {pipeline}/{partition}#{epoch}") from exc
        return decode(BatchWindow, json.loads(snap.get("record"))) if snap.exists else None

    def windows(
        self, states: Sequence[str], pipeline: str | None = None, limit: int = 100
    ) -> list[BatchWindow]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._db().collection(self.prefix + "windows")
        query = query.where(filter=FieldFilter("state", "in", list(states)))
        if pipeline is not None:
            query = query.where(filter=FieldFilter("pipeline", "==", pipeline))
        try:
            docs = list(query.stream(timeout=TIMEOUT_S))
        except Exception as exc:
            raise _translate(exc, "list windows") from exc
        found = [decode(BatchWindow, json.loads(d.get("record"))) for d in docs]
        found.sort(key=lambda w: (w.opened_at, w.epoch), reverse=True)
        return found[:limit]

    def members(self, pipeline: str, partition: str, epoch: int) -> list[Member]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._db().collection(self.prefix + "members")
            .where(filter=FieldFilter("pipeline", "==", pipeline))
            .where(filter=FieldFilter("partition", "==", partition))
            .where(filter=FieldFilter("epoch", "==", epoch))
        )  # fmt: skip
        try:
            docs = list(query.stream(timeout=TIMEOUT_S))
        except Exception as exc:
            raise _translate(exc, f"list members of {pipeline}/{partition}#{epoch}") from exc
        found = [decode(Member, json.loads(d.get("record"))) for d in docs]
        return sorted(found, key=lambda m: (m.name, m.generation))

    def advance(
        self, window: BatchWindow, version: int, found: Sequence[Member] = ()
    ) -> BatchWindow:
        """Found members are created one by one before the window's compare-and-set: a crash in
        between leaves them in this epoch (where a retry finds them), never in another."""
        from google.api_core import exceptions as gex

        db = self._db()
        ref = self._window_ref(window.pipeline, window.partition, window.epoch)
        what = f"advance window {window.label}"
        try:
            snap = ref.get(timeout=TIMEOUT_S)
            current = int(snap.get("version")) if snap.exists else None
            if current != version:
                raise Conflict(f"window {window.label}: version {version} is stale ({current})")
            for m in found:
                member_ref = self._doc("members", SEP.join((window.pipeline, m.key)))
                # A member already (of this epoch or an earlier one) stays where it is.
                with contextlib.suppress(gex.AlreadyExists):
                    member_ref.create(self._member_fields(window, m), timeout=TIMEOUT_S)
            if found:
                count = len(self.members(window.pipeline, window.partition, window.epoch))
                window = replace(window, count=count)
            option = db.write_option(last_update_time=snap.update_time)
            ref.update(self._window_fields(window), option=option, timeout=TIMEOUT_S)
        except Conflict:
            raise
        except Exception as exc:
            raise _translate(exc, what, conflict=True) from exc
        return window

    @staticmethod
    def _decision(key: str, outcome: Outcome) -> dict[str, Any]:
        return {
            "key": key,
            "subject": outcome.subject,
            "kind": outcome.kind,
            "decided_at": outcome.decided_at,
            "outcome": _dump(outcome),
        }


def _translate(exc: Exception, what: str, conflict: bool = False) -> Exception:
    """A client failure as Conflict (a lost precondition), TransientError or PermanentError."""
    if isinstance(exc, InterlockError | Conflict):
        return exc
    # A failed precondition, a create that met a document, an update that met none, an aborted
    # transaction: in a write, each means another writer got there first.
    status = rpc_status(exc)
    if conflict and status in LOST_RACE:
        return Conflict(f"firestore {what}: {status}: {message_of(exc)[:300]}")
    # Elsewhere FAILED_PRECONDITION is a missing index: configuration, so permanent (shared map).
    return translate(exc, "", f"firestore {what}")
