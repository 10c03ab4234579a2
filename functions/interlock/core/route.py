"""Core layer: which pipelines a landed object starts, with a run id that makes retries harmless.

`matches` and `render_conf` are the one matcher and the one DAG-conf builder: routed landings and
manual triggers (`core.manual`) both go through them, so a DAG sees the same conf either way.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import re
from datetime import datetime

from interlock.core import batch
from interlock.core.decision import Decision
from interlock.core.effects import JoinWindow, TriggerDag
from interlock.core.events import DataLanded
from interlock.core.policy import PLACEHOLDER_RE, Pipeline, Policy


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def run_id_for(pipeline: Pipeline, landed: DataLanded) -> str:
    """Same object generation → same run id (batched pipelines: `core.batch.run_id`)."""
    return f"gcs__{_digest(pipeline.name, landed.bucket, landed.name, str(landed.generation))}"


def render_conf(
    pipeline: Pipeline, landed: DataLanded, event_id: str
) -> dict[str, str | int | None]:
    """The pinned object always; the policy's template fields by plain substitution (no Jinja).

    `event_id` is provenance (which delivery or request asked), never part of the run's identity.
    """
    values: dict[str, str] = {
        "object": landed.uri,
        "bucket": landed.bucket,
        "name": landed.name,
        "generation": str(landed.generation),
        "md5": landed.md5_hash or "",
        "size": "" if landed.size is None else str(landed.size),
        "event_id": event_id,
        "pipeline": pipeline.name,
    }
    conf: dict[str, str | int | None] = {
        "object": landed.uri,
        "md5": landed.md5_hash,
        "size": landed.size,
        "event_id": event_id,
    }
    for key, template in pipeline.conf.items():
        conf[key] = PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template)
    return conf


def matches(pipeline: Pipeline, landed: DataLanded) -> bool:
    return matches_name(pipeline, landed.bucket, landed.name)


def matches_name(pipeline: Pipeline, bucket: str, name: str) -> bool:
    if bucket != pipeline.bucket or not name.startswith(pipeline.prefix):
        return False
    if name.startswith(batch.MANIFEST_ROOT):  # interlock's own manifests are never data
        return False
    rest = name[len(pipeline.prefix) :]
    return _glob(pipeline.glob).match(rest) is not None


@functools.cache
def _glob(glob: str) -> re.Pattern[str]:
    """A policy glob compiled once: translating it on every event cost more than the match."""
    return re.compile(fnmatch.translate(glob))


def _join(p: Pipeline, landed: DataLanded, now: datetime) -> JoinWindow | None:
    """A batched pipeline's effect for a landing: a member of its window, or its sentinel."""
    assert p.batch is not None
    partition = batch.partition_of(p.batch, landed.name)
    if matches(p, landed):
        member = batch.Member(
            landed.bucket, landed.name, landed.generation, landed.size, landed.md5_hash,
            landed.time_created,
        )  # fmt: skip
        return JoinWindow(p, partition, member, now)
    under = landed.bucket == p.bucket and landed.name.startswith(p.prefix)
    if under and batch.is_sentinel(p.batch, landed.name):
        return JoinWindow(p, partition, None, now)
    return None


def _effect(
    p: Pipeline, landed: DataLanded, event_id: str, now: datetime
) -> TriggerDag | JoinWindow | None:
    if p.batch is not None:
        return _join(p, landed, now)
    if not matches(p, landed):
        return None
    conf = render_conf(p, landed, event_id)
    return TriggerDag(pipeline=p.name, dag_id=p.dag_id, run_id=run_id_for(p, landed), conf=conf)


def _reason(landed: DataLanded, e: TriggerDag | JoinWindow) -> str:
    if isinstance(e, JoinWindow):
        b = e.pipeline.batch
        assert b is not None
        if e.member is None:
            return f"{landed.uri} is the sentinel of pipeline {e.pipeline.name}: its window {e.partition} closes now"
        limits = f"quiet {b.quiet_s}s, max_wait {b.max_wait_s}s, max_objects {b.max_objects}"
        sentinel = f", sentinel {b.sentinel}" if b.sentinel else ""
        return f"{landed.uri} joins pipeline {e.pipeline.name}'s batch window {e.partition} (closes on {limits}{sentinel})"
    return f"{landed.uri} matches pipeline {e.pipeline} → DAG {e.dag_id} run {e.run_id}"


def route(landed: DataLanded, policy: Policy, event_id: str, now: datetime) -> Decision:
    """Zero or more DAG triggers (or batch-window joins) for a landed object, each with a reason."""
    found = (_effect(p, landed, event_id, now) for p in policy.pipelines)
    effects = tuple(e for e in found if e is not None)
    if not effects:
        return Decision(
            kind="ignored",
            subject=f"gs://{landed.bucket}",
            reasons=(f"no pipeline matches {landed.uri}",),
        )
    names = (e.pipeline.name if isinstance(e, JoinWindow) else e.pipeline for e in effects)
    batched = all(isinstance(e, JoinWindow) for e in effects)
    return Decision(
        kind="batched" if batched else "triggered",
        subject=",".join(names),
        reasons=tuple(_reason(landed, e) for e in effects),
        effects=effects,
    )
