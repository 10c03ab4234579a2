"""Core layer: a deliberate re-run of a dead-lettered event (`interlock replay`).

The original is decided anew, from the current state, under the replay request's own key
(`request:{request_id}`): the first record (dead_lettered) stays, the new one names it, and a
re-publish of the same replay request is recognised like any request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from interlock.core.decision import Decision
from interlock.core.errors import PermanentError
from interlock.core.events import ReplayRequested
from interlock.core.inbound import Inbound, parse_document
from interlock.core.kinds import model_of
from interlock.core.policy import Policy
from interlock.core.state import ModelState

Decide = Callable[[Inbound, Policy, ModelState, datetime], Decision]


def replay(
    req: ReplayRequested, policy: Policy, state: ModelState, now: datetime, decide: Decide
) -> Decision:
    try:
        doc = json.loads(req.event)
    except json.JSONDecodeError as err:
        raise PermanentError("event", f"not JSON: {err.msg}") from None
    inner = parse_document(doc)
    if isinstance(inner.payload, ReplayRequested):
        raise PermanentError("event", "a replay request cannot replay another replay request")
    about = model_of(inner.payload)
    if about != req.model:
        raise PermanentError(
            "model",
            f"the replayed event is about {about or 'no model'}, the request says {req.model or 'none'}",
        )
    decided = decide(inner, policy, state, now)
    who = f" by {req.requested_by}" if req.requested_by else ""
    why = f"replay{who} of dead-lettered event {req.replay_of} ({inner.type})" + (
        f": {req.reason}" if req.reason else ""
    )
    return decided.replace(reasons=(why, *decided.reasons), manual=True)
