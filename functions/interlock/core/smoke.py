"""Core layer: the pre-traffic smoke check — the effect a promotion runs between deploying the
candidate's revision and its first traffic, and the rejection it turns into when it fails.

`moves.start` puts a `SmokeCheck` after the `DeployRevision` and builds the decision the runner
records instead if the check fails (`Decision.on_smoke_failure`): `rejected`, the traffic and
aliases untouched, the version remembered as rejected (never auto-promoted again, like a
rolled-back one; a manual promote checks it again). `failed` adds what the revision answered.
"""

from __future__ import annotations

import dataclasses

from interlock.core.decision import Decision
from interlock.core.effects import DeployRevision, SmokeCheck
from interlock.core.policy import ModelPolicy
from interlock.core.state import ModelState
from interlock.core.text import one_line

BODY_LIMIT = 500


def check(mp: ModelPolicy, deployed: DeployRevision) -> SmokeCheck | None:
    smoke = mp.canary.smoke
    if smoke is None:
        return None
    return SmokeCheck(
        model=mp.name,
        version=deployed.version,
        service=deployed.service,
        revision=deployed.revision,
        path=smoke.path,
        request=smoke.request,
        expect_status=smoke.expect_status,
        timeout_s=smoke.timeout_s,
    )


def rejection(
    state: ModelState, mp: ModelPolicy, version: str, reasons: tuple[str, ...], manual: bool
) -> Decision:
    """What is recorded if the smoke check fails: `state` (as the promotion found it) with the
    version rejected; the reasons so far, to which `failed` adds the answer."""
    nxt = state.replace(
        rejected_versions=(*(v for v in state.rejected_versions if v != version), version)[-20:]
    )
    return Decision("rejected", mp.name, reasons, (), nxt, manual)


def led_by(decision: Decision, reasons: tuple[str, ...]) -> Decision | None:
    """The decision's rejection with `reasons` first: for a move that wraps a promotion (a hold
    released, a resume) and says why it re-decided, whichever way the smoke check goes."""
    rejected = decision.on_smoke_failure
    if rejected is None:
        return None
    return dataclasses.replace(rejected, reasons=(*reasons, *rejected.reasons))


def failed(
    decision: Decision, check: SmokeCheck, url: str, status: int | None, body: str
) -> Decision:
    """The decision's rejection, saying what the revision answered (upstream text: data)."""
    rejected = decision.on_smoke_failure
    assert rejected is not None, "a SmokeCheck effect comes with its rejection (carry_out checks)"
    answered = "no answer" if status is None else f"answered {status}"
    text = one_line(body, BODY_LIMIT)
    why = (
        f"smoke check failed: POST {one_line(url, 300)} {answered} (expected "
        f"{check.expect_status}){': ' + text if text else ''}"
    )
    kept = (
        f"v{check.version} rejected before any traffic: traffic unchanged (revision "
        f"{check.revision} keeps its 0 % {check.tag!r} tag until the next traffic change)"
    )
    return dataclasses.replace(rejected, reasons=(*rejected.reasons, why, kept))
