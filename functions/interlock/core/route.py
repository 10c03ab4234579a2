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

from interlock.core.decision import Decision
from interlock.core.effects import TriggerDag
from interlock.core.events import DataLanded
from interlock.core.policy import PLACEHOLDER_RE, Pipeline, Policy


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def run_id_for(pipeline: Pipeline, landed: DataLanded, when: datetime | None) -> str:
    """Same object generation → same run id; with a debounce window, same window → same run."""
    if pipeline.debounce_s and when is not None:
        window = int(when.timestamp()) // pipeline.debounce_s
        return f"gcs__{pipeline.name}__w{window}"
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
    if landed.bucket != pipeline.bucket or not landed.name.startswith(pipeline.prefix):
        return False
    rest = landed.name[len(pipeline.prefix) :]
    return _glob(pipeline.glob).match(rest) is not None


@functools.cache
def _glob(glob: str) -> re.Pattern[str]:
    """A policy glob compiled once: translating it on every event cost more than the match."""
    return re.compile(fnmatch.translate(glob))


def route(
    landed: DataLanded, policy: Policy, event_id: str, when: datetime | None = None
) -> Decision:
    """Zero or more DAG triggers for a landed object, with the reason for each."""
    triggers = tuple(
        TriggerDag(
            pipeline=p.name,
            dag_id=p.dag_id,
            run_id=run_id_for(p, landed, when),
            conf=render_conf(p, landed, event_id),
        )
        for p in policy.pipelines
        if matches(p, landed)
    )
    if not triggers:
        return Decision(
            kind="ignored",
            subject=f"gs://{landed.bucket}",
            reasons=(f"no pipeline matches {landed.uri}",),
        )
    reasons = tuple(
        f"{landed.uri} matches pipeline {t.pipeline} → DAG {t.dag_id} run {t.run_id}"
        for t in triggers
    )
    return Decision(
        kind="triggered",
        subject=",".join(t.pipeline for t in triggers),
        reasons=reasons,
        effects=triggers,
    )
