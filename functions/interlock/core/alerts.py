"""Core layer: Cloud Monitoring alert incidents — Google's notification parsed, then decided.

The Pub/Sub notification channel delivers Google's incident JSON (schema version "1.2") in
`message.data`, with no CloudEvents attributes (../shared/reference/gcp-facts.md §1a). It is
routed by the alerting policy's user label `interlock-model`, never by display names (they are
not unique). Senders differ: `state` comes in any case, `started_at` as epoch seconds or an
RFC 3339 string, `observed_value`/`threshold_value` as strings or numbers; all are accepted.
An incident without our label is for someone else: ignored (acked, recorded), not dead-lettered.

What an open incident on a serving revision does is the policy's `guard.alerts`:
`breach` counts it as one breaching window (N of M still applies), `rollback` rolls back as a
breach limit would (a candidate always; a champion within cooldown, cap and guard window),
`advisory` asks a human. A closed incident is recorded; nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from interlock.core import codec, guard
from interlock.core.decision import Decision
from interlock.core.errors import PermanentError
from interlock.core.events import AlertIncident
from interlock.core.policy import ModelPolicy
from interlock.core.state import ModelState
from interlock.core.text import one_line

SCHEMA_VERSION = "1.2"
MODEL_LABEL = "interlock-model"
STATES = ("open", "closed")
_PATH = "message.data.incident"


def looks_like_incident(doc: Any) -> bool:
    """Whether a Pub/Sub message body is a Monitoring notification (`{"incident": {…}}`)."""
    return isinstance(doc, Mapping) and isinstance(doc.get("incident"), Mapping)


def parse_incident(doc: Mapping[str, Any]) -> AlertIncident | str:
    """The incident, or why it is not for interlock (a reason to record it as ignored)."""
    version = doc.get("version")
    if version != SCHEMA_VERSION:
        raise PermanentError(
            "message.data.version", f"expected the notification schema '1.2', got {version!r}"
        )
    inc: Mapping[str, Any] = doc["incident"]
    incident_id = codec.check_string(inc.get("incident_id"), f"{_PATH}.incident_id")
    labels = inc.get("policy_user_labels")
    model = labels.get(MODEL_LABEL) if isinstance(labels, Mapping) else None
    if model is None:
        return (
            f"incident {one_line(incident_id, 80)} carries no policy_user_labels"
            f"[{MODEL_LABEL!r}]: not for interlock"
        )
    state = inc.get("state")
    if not isinstance(state, str) or state.lower() not in STATES:
        raise PermanentError(f"{_PATH}.state", f"expected 'open' or 'closed', got {state!r}")
    resource = inc.get("resource")
    resource_labels = resource.get("labels") if isinstance(resource, Mapping) else None
    fields = {
        "model": model,
        "incident_id": incident_id,
        "state": state.lower(),
        "revision": resource_labels.get("revision_name")
        if isinstance(resource_labels, Mapping)
        else None,
        "started_at": _when(inc.get("started_at"), f"{_PATH}.started_at"),
        "ended_at": _when(inc.get("ended_at"), f"{_PATH}.ended_at"),
        "policy_name": inc.get("policy_name"),
        "condition_name": inc.get("condition_name"),
        "summary": inc.get("summary"),
        "url": inc.get("url"),
        "observed_value": _number(inc.get("observed_value"), f"{_PATH}.observed_value"),
        "threshold_value": _number(inc.get("threshold_value"), f"{_PATH}.threshold_value"),
    }
    # Decoded as a payload: the same checks as every event, errors named by Google's fields.
    fields = {k: v for k, v in fields.items() if v is not None}
    try:
        return codec.decode(AlertIncident, fields, _PATH)
    except PermanentError as err:
        field = err.field
        for ours, google in (("model", "policy_user_labels.interlock-model"),
                             ("revision", "resource.labels.revision_name")):  # fmt: skip
            field = field.replace(f"{_PATH}.{ours}", f"{_PATH}.{google}")
        raise PermanentError(field, err.reason) from None


def _when(value: Any, path: str) -> Any:
    """Epoch seconds (Google's samples) or an RFC 3339 string (some senders)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or not 0 <= value < 253402300800:
            raise PermanentError(path, f"epoch seconds out of range: {value!r}")
        return codec.format_time(datetime.fromtimestamp(value, UTC))
    if isinstance(value, str) and value.isdigit():
        return _when(int(value), path)
    return value  # a string: `codec` parses it, or says why not


def _number(value: Any, path: str) -> float | None:
    """`"0.835"` (Google's samples) or 0.835 (some senders)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise PermanentError(path, f"expected a number, got {value[:40]!r}") from None
    else:
        raise PermanentError(path, f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise PermanentError(path, f"expected a finite number, got {value!r}")
    return number


def _described(p: AlertIncident, role: str) -> str:
    since = f" since {codec.format_time(p.started_at)}" if p.started_at else ""
    what = one_line(p.policy_name or "an alerting policy", 120)
    if p.condition_name:
        what += f" / {one_line(p.condition_name, 120)}"
    values = ""
    if p.observed_value is not None:
        values = f": observed {p.observed_value:g}"
        if p.threshold_value is not None:
            values += f", threshold {p.threshold_value:g}"
    return f"incident {p.incident_id} open on {role} {p.revision}{since} ({what}){values}"


def decide(p: AlertIncident, state: ModelState, mp: ModelPolicy, now: datetime) -> Decision:
    """What an incident does to the model: `guard.alerts` for an open one on a serving revision."""
    subject = mp.name
    if p.state == "closed":
        ended = f" at {codec.format_time(p.ended_at)}" if p.ended_at else ""
        return Decision("ignored", subject, (f"incident {p.incident_id} closed{ended}: recorded",))
    if p.revision is None:
        return Decision(
            "ignored",
            subject,
            (
                f"incident {p.incident_id} names no revision: group the condition by "
                "resource.labels.revision_name (docs/operations.md)",
            ),
        )
    role = state.role_of(p.revision)
    if role is None:
        return Decision(
            "stale", subject, (f"incident {p.incident_id}: revision {p.revision} holds no traffic",)
        )
    why = (_described(p, role),) + ((f"see {one_line(p.url, 300)}",) if p.url else ())
    mode = mp.guard.alerts
    if mode == "advisory":
        return Decision(
            "needs_human", subject, (*why, "guard.alerts is advisory: a human should look")
        )
    if state.paused:
        return Decision("held", subject, (*why, f"automation paused ({state.paused_reason})"))
    if mode == "rollback":
        return guard.roll_back(state, mp, role, now, (*why, "guard.alerts is rollback"))
    # breach: one breaching window for the revision, at its last window (the observer's cursor
    # does not move: an incident is a signal, not a measured window).
    serving = state.candidate if role == "candidate" else state.champion
    end = state.last_window_end(p.revision) or (serving.since if serving else None) or now
    counted = guard.record(state, p.revision, end, "breach", max(mp.guard.of_windows, 1))
    return guard.breached(counted, mp, p.revision, now, (*why, "counted as a breaching window"))
