"""Core layer: manual requests become the same moves as automatic ones, marked manual.

A human may skip the gate, the cooldown and the pause; only `force` skips the ordering guard.
"""

from __future__ import annotations

import re
from datetime import datetime

from interlock.core import moves, route
from interlock.core.decision import Decision
from interlock.core.effects import CloseWindow, TriggerDag
from interlock.core.errors import PermanentError
from interlock.core.events import (
    CloseRequested,
    DataLanded,
    PromoteRequested,
    RollbackRequested,
    TriggerRequested,
)
from interlock.core.inbound import check_object_name
from interlock.core.policy import ModelPolicy, Policy
from interlock.core.state import ModelState, version_key

_URI = re.compile(r"^gs://([a-z0-9][a-z0-9._\-]{1,220})/(.+)#([0-9]{1,20})$")


def _requester(by: str | None) -> str:
    return f"manual request by {by}" if by else "manual request"


def _resumed(state: ModelState) -> tuple[ModelState, tuple[str, ...]]:
    if not state.paused or state.paused_by is not None:
        # A pause a human chose stays until `interlock resume`; a manual move skips it anyway.
        return state, ()
    return state.replace(paused=False, paused_reason=None), ("automation resumed: a human acted",)


def promote(req: PromoteRequested, state: ModelState, mp: ModelPolicy, now: datetime) -> Decision:
    who = _requester(req.requested_by)
    for role, held in (("champion", state.champion), ("candidate", state.candidate)):
        if held is not None and held.version == req.version:
            return Decision(
                "stale", mp.name, (f"v{req.version} is already the {role}",), manual=True
            )
    champion = state.champion
    if (
        champion is not None
        and version_key(req.version) < version_key(champion.version)
        and not req.force
    ):
        return Decision("stale", mp.name, (
            f"v{req.version} is older than champion v{champion.version}; re-send with force to promote it anyway",
        ), manual=True)  # fmt: skip
    resumed, notes = _resumed(state)
    forced = ("force: ordering guard skipped",) if req.force else ()
    reasons = (f"{who}: gate skipped", *forced, *notes)
    return moves.start(resumed, mp, req.version, None, now, reasons, manual=True)


def rollback(req: RollbackRequested, state: ModelState, mp: ModelPolicy, now: datetime) -> Decision:
    who = _requester(req.requested_by)
    resumed, notes = _resumed(state)
    reasons = (who, *notes)
    if resumed.candidate is not None:
        return moves.abort(resumed, mp, now, reasons, manual=True)
    if resumed.previous is None or resumed.champion is None:
        return Decision(
            "needs_human",
            mp.name,
            (*reasons, "no previous version to roll back to: nothing changed"),
            (),
            resumed,
            True,
        )
    return moves.rollback(resumed, mp, now, reasons, manual=True)


def trigger(req: TriggerRequested, policy: Policy) -> Decision:
    pipeline = policy.pipeline(req.pipeline)
    match = _URI.match(req.object_uri)
    if match is None:
        raise PermanentError("object_uri", "expected gs://bucket/name#generation")
    bucket, name, generation = match.groups()
    if bucket != pipeline.bucket:
        raise PermanentError(
            "object_uri",
            f"bucket {bucket!r} is not pipeline {pipeline.name}'s bucket {pipeline.bucket!r}",
        )
    check_object_name(name, "object_uri")
    landed = DataLanded(bucket=bucket, name=name, generation=int(generation))
    if not route.matches(pipeline, landed):
        raise PermanentError(
            "object_uri",
            f"{name!r} is not an object of pipeline {pipeline.name} "
            f"(prefix {pipeline.prefix!r}, glob {pipeline.glob!r})",
        )
    conf = route.render_conf(pipeline, landed, req.request_id)
    run_id = f"manual__{req.request_id}"
    effect = TriggerDag(pipeline=pipeline.name, dag_id=pipeline.dag_id, run_id=run_id, conf=conf)
    reasons = (
        f"{_requester(req.requested_by)}: {req.object_uri} → DAG {pipeline.dag_id} run {run_id} (generation {generation})",
    )
    return Decision("triggered", pipeline.name, reasons, (effect,), None, True)


def close(req: CloseRequested, policy: Policy, now: datetime) -> Decision:
    """Close a batched pipeline's window(s) by hand: the same close as the sentinel's, marked
    manual (the run's conf says `close_reason: manual`)."""
    pipeline = policy.pipeline(req.pipeline)
    if pipeline.batch is None:
        raise PermanentError(
            "pipeline", f"pipeline {pipeline.name} has no `batch:`: there is no window to close"
        )
    which = f"window {req.partition}" if req.partition is not None else "every open window"
    reasons = (f"{_requester(req.requested_by)}: close {which} of pipeline {pipeline.name}",)
    effect = CloseWindow(pipeline, req.partition, now)
    return Decision("triggered", pipeline.name, reasons, (effect,), None, True)
