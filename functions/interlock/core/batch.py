"""Core layer: batch windows — identity, membership, when a window closes, its manifest and run.

A window is `(pipeline, partition, epoch)`. Each notification adds its object generation to the
pipeline's open window of the object's partition (create-if-absent: a redelivery is a no-op); a
window moves OPEN → CLOSING → TRIGGERED under compare-and-set, and an object arriving once it is
CLOSING opens the next epoch. At close the prefix is listed (Cloud Storage listing is strongly
consistent) so late notifications are not missed; the manifest — every member, pinned, sorted —
is the run's contract, written create-only, and the run id follows from the window alone.
Everything here is a pure function of the window, its members and `now`.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from interlock.core.codec import format_time
from interlock.core.policy import PLACEHOLDER_RE, Batch, Pipeline

WindowState = Literal["open", "closing", "triggered"]
CloseReason = Literal["sentinel", "max_objects", "max_wait", "quiet", "manual"]
FoundBy = Literal["notification", "listing"]
MANIFEST_ROOT = "_interlock/manifests/"  # never a member: the manifests live in the bucket too
WHOLE = "_all"  # the partition of a pipeline without `batch.partition`


@dataclass(frozen=True)
class Member:
    """One object generation of a window, as pinned in the manifest."""

    bucket: str
    name: str
    generation: int
    size: int | None = None
    md5: str | None = None
    time_created: datetime | None = None
    found_by: FoundBy = "notification"

    @property
    def key(self) -> str:
        """Unique per pipeline across every epoch: no object generation is in two manifests."""
        return f"{self.bucket}/{self.name}#{self.generation}"

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}#{self.generation}"


@dataclass(frozen=True)
class BatchWindow:
    pipeline: str
    partition: str
    epoch: int
    state: WindowState
    opened_at: datetime
    last_at: datetime  # when the newest member joined (quiet runs from here)
    count: int
    version: int  # bumped by every write: compare-and-set on it
    sentinel: bool = False
    close_reason: CloseReason | None = None
    closed_at: datetime | None = None
    reconciled: bool = False  # the listing at close was added (membership final)
    run_id: str | None = None
    manifest_uri: str | None = None
    manifest_sha256: str | None = None

    @property
    def label(self) -> str:
        return f"{self.pipeline}/{self.partition}#{self.epoch}"


def partition_of(batch: Batch, name: str) -> str:
    """The partition an object name belongs to: its capture groups joined by "/", or `_all`."""
    if batch.partition is None:
        return WHOLE
    match = re.search(batch.partition, name)
    if match is None:
        return WHOLE
    return "/".join(g or "" for g in match.groups())


def is_sentinel(batch: Batch, name: str) -> bool:
    return batch.sentinel is not None and name.rsplit("/", 1)[-1] == batch.sentinel


def opened(pipeline: str, partition: str, epoch: int, now: datetime) -> BatchWindow:
    return BatchWindow(pipeline, partition, epoch, "open", now, now, 0, 0)


def joined(window: BatchWindow, now: datetime, added: bool, sentinel: bool) -> BatchWindow:
    """The window after a notification: one more member (unless a duplicate), the sentinel seen."""
    return replace(
        window,
        count=window.count + (1 if added else 0),
        last_at=max(window.last_at, now) if added else window.last_at,
        sentinel=window.sentinel or sentinel,
        version=window.version + 1,
    )


def due(window: BatchWindow, batch: Batch, now: datetime) -> CloseReason | None:
    """Why an open window closes now, first condition first; None while it should stay open."""
    if window.state != "open":
        return None
    if window.sentinel:
        return "sentinel"
    if window.count >= batch.max_objects:
        return "max_objects"
    if window.count and now - window.opened_at >= timedelta(seconds=batch.max_wait_s):
        return "max_wait"
    if window.count and now - window.last_at >= timedelta(seconds=batch.quiet_s):
        return "quiet"
    return None


def closing(window: BatchWindow, reason: CloseReason, now: datetime) -> BatchWindow:
    return replace(
        window, state="closing", close_reason=reason, closed_at=now, version=window.version + 1
    )


def listed_members(
    pipeline: Pipeline, window: BatchWindow, listing: Iterable[Member], known: Iterable[str] = ()
) -> list[Member]:
    """Objects the listing shows that belong to this window: the ledger adds those whose
    notification has not come (`known`: members of any epoch, which stay where they are). Only those created
    before the close, and no more than `max_objects` in all: any other opens the next window
    by its own notification."""
    from interlock.core.route import matches_name

    assert pipeline.batch is not None and window.closed_at is not None
    seen = set(known)  # member keys of any epoch: they take no room here
    found = []
    for obj in listing:
        if obj.key in seen or not matches_name(pipeline, obj.bucket, obj.name):
            continue
        if partition_of(pipeline.batch, obj.name) != window.partition:
            continue
        if obj.time_created is not None and obj.time_created > window.closed_at:
            continue
        found.append(replace(obj, found_by="listing"))
    room = max(0, pipeline.batch.max_objects - window.count)
    return sorted(found, key=lambda m: (m.time_created or window.closed_at, m.name))[:room]


def manifest_name(window: BatchWindow) -> str:
    """`_interlock/manifests/PIPELINE/PARTITION/WINDOW.json`; the partition escaped to one segment."""
    partition = urllib.parse.quote(window.partition, safe="=-_.")
    return f"{MANIFEST_ROOT}{window.pipeline}/{partition}/w{window.epoch:06d}.json"


def manifest(window: BatchWindow, members: Sequence[Member]) -> bytes:
    """The run's contract: canonical JSON (sorted keys and entries), so a retry rebuilds the same
    bytes and compares its sha256 with what it finds."""
    assert window.closed_at is not None and window.close_reason is not None
    entries = [
        {
            "uri": m.uri,
            "bucket": m.bucket,
            "name": m.name,
            "generation": m.generation,
            "size": m.size,
            "md5": m.md5,
            "time_created": format_time(m.time_created) if m.time_created else None,
            "found_by": m.found_by,
        }
        for m in sorted(members, key=lambda m: (m.name, m.generation, m.bucket))
    ]
    body = {
        "pipeline": window.pipeline,
        "partition": window.partition,
        "window": window.epoch,
        "close_reason": window.close_reason,
        "window_start": format_time(window.opened_at),
        "window_end": format_time(window.closed_at),
        "count": len(entries),
        "objects": entries,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_id(window: BatchWindow) -> str:
    """From (pipeline, partition, epoch) alone: every retry of one close asks for one run."""
    digest = hashlib.sha256(f"{window.partition}\x1f{window.epoch}".encode()).hexdigest()[:16]
    return f"gcs__{window.pipeline}__{digest}"


def conf(
    pipeline: Pipeline, window: BatchWindow, uri: str, digest: str, count: int
) -> dict[str, str | int | None]:
    """The DAG conf of a window's run: the manifest (its URI and sha256) and what it covers; the
    policy's template fields by plain substitution (`{object}` is the manifest here)."""
    assert window.closed_at is not None
    values: Mapping[str, str] = {
        "object": uri, "bucket": pipeline.bucket, "name": "", "generation": "", "md5": "",
        "size": "", "event_id": window.label, "pipeline": pipeline.name,
    }  # fmt: skip
    out: dict[str, str | int | None] = {
        "manifest_uri": uri,
        "manifest_sha256": digest,
        "count": count,
        "close_reason": window.close_reason,
        "window_start": format_time(window.opened_at),
        "window_end": format_time(window.closed_at),
        "partition": window.partition,
    }
    for key, template in pipeline.conf.items():
        if key not in out:
            out[key] = PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template)
    return out


def triggered(window: BatchWindow, run: str, uri: str, digest: str) -> BatchWindow:
    return replace(
        window, state="triggered", run_id=run, manifest_uri=uri, manifest_sha256=digest,
        version=window.version + 1,
    )  # fmt: skip
