"""Core: Cloud Monitoring incidents parsed the ways senders write them, and decided by guard.alerts."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from interlock.core.alerts import decide, looks_like_incident, parse_incident
from interlock.core.errors import PermanentError
from interlock.core.events import AlertIncident
from tests.builders import NOW, policy, state

DOC: dict[str, Any] = {
    "version": "1.2",
    "incident": {
        "incident_id": "0.abc",
        "state": "open",
        "started_at": 1764072000,
        "ended_at": None,
        "policy_name": "churn 5xx",
        "condition_name": "5xx above 5 %",
        "observed_value": "0.2",
        "threshold_value": "0.05",
        "url": "https://console.cloud.google.com/monitoring/alerting/incidents/0.abc",
        "policy_user_labels": {"interlock-model": "churn"},
        "resource": {"type": "cloud_run_revision", "labels": {"revision_name": "churn-v4"}},
    },
}


def doc(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(DOC)
    d["incident"].update(changes)
    return d


def incident(**changes: Any) -> AlertIncident:
    parsed = parse_incident(doc(**changes))
    assert isinstance(parsed, AlertIncident)
    return parsed


def test_googles_shape_parses_with_string_values_and_epoch_seconds():
    p = incident()
    assert (p.model, p.incident_id, p.state, p.revision) == ("churn", "0.abc", "open", "churn-v4")
    assert p.started_at == datetime(2025, 11, 25, 12, 0, tzinfo=UTC)
    assert (p.observed_value, p.threshold_value) == (0.2, 0.05)


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"state": "OPEN"}, "state", "open"),
        ({"state": "Closed"}, "state", "closed"),
        ({"started_at": "2025-11-25T12:00:00Z"}, "started_at", datetime(2025, 11, 25, 12, tzinfo=UTC)),
        ({"started_at": "1764072000"}, "started_at", datetime(2025, 11, 25, 12, tzinfo=UTC)),
        ({"observed_value": 0.7}, "observed_value", 0.7),
        ({"threshold_value": ""}, "threshold_value", None),
        ({"resource": {"type": "cloud_run_revision", "labels": {}}}, "revision", None),
    ],
)  # fmt: skip
def test_senders_variants_are_accepted(changes, field, value):
    assert getattr(incident(**changes), field) == value


@pytest.mark.parametrize(
    ("d", "field"),
    [
        ({**DOC, "version": "1.1"}, "message.data.version"),
        (doc(state="acknowledged"), "message.data.incident.state"),
        (doc(incident_id=None), "message.data.incident.incident_id"),
        (doc(observed_value="high"), "message.data.incident.observed_value"),
        (doc(observed_value="nan"), "message.data.incident.observed_value"),
        (doc(threshold_value=[1]), "message.data.incident.threshold_value"),
        (doc(started_at=-5), "message.data.incident.started_at"),
        (doc(policy_user_labels={"interlock-model": "Churn!"}),
         "message.data.incident.policy_user_labels.interlock-model"),
        (doc(resource={"labels": {"revision_name": "UPPER"}}),
         "message.data.incident.resource.labels.revision_name"),
    ],
)  # fmt: skip
def test_a_bad_incident_is_refused_naming_its_field(d, field):
    with pytest.raises(PermanentError) as err:
        parse_incident(d)
    assert err.value.field == field


def test_an_incident_without_our_label_is_not_for_interlock():
    reason = parse_incident(doc(policy_user_labels={"team": "x"}))
    assert isinstance(reason, str) and "not for interlock" in reason
    assert isinstance(parse_incident(doc(policy_user_labels=None)), str)


def test_only_a_notification_looks_like_an_incident():
    assert looks_like_incident(DOC)
    assert not looks_like_incident({"incident": "x"}) and not looks_like_incident([1])


def canary(**changes: Any):
    return state(candidate="4", **changes)


def test_breach_mode_counts_a_breaching_window_and_holds_below_the_limit():
    d = decide(incident(), canary(), policy().models[0], NOW)
    assert d.kind == "held"
    assert d.state is not None and [w.verdict for w in d.state.windows["churn-v4"]] == ["breach"]
    assert d.reasons[-1].endswith("< breaches (3): holding")
    assert "see https://console.cloud.google.com" in d.reasons[1]


def test_breach_mode_rolls_back_when_the_incident_completes_n_of_m():
    mp = policy(guard={"breaches": 1}).models[0]
    d = decide(incident(), canary(), mp, NOW)
    assert d.kind == "rolled_back"


def test_rollback_mode_aborts_the_canary_at_once():
    d = decide(incident(), canary(), policy(guard={"alerts": "rollback"}).models[0], NOW)
    assert d.kind == "rolled_back"
    assert "guard.alerts is rollback" in d.reasons


def test_advisory_mode_asks_a_human_and_changes_nothing():
    d = decide(incident(), canary(), policy(guard={"alerts": "advisory"}).models[0], NOW)
    assert d.kind == "needs_human" and d.state is None and d.effects == ()


def test_a_closed_incident_is_recorded_and_changes_nothing():
    d = decide(incident(state="closed", ended_at=1764072600), canary(), policy().models[0], NOW)
    assert d.kind == "ignored" and "closed at 2025-11-25T12:10:00" in d.reasons[0]


def test_an_incident_on_a_revision_holding_no_traffic_is_stale():
    d = decide(
        incident(resource={"labels": {"revision_name": "churn-v9"}}),
        canary(),
        policy().models[0],
        NOW,
    )
    assert d.kind == "stale"


def test_an_incident_naming_no_revision_is_ignored_with_the_fix():
    d = decide(incident(resource={}), canary(), policy().models[0], NOW)
    assert d.kind == "ignored" and "resource.labels.revision_name" in d.reasons[0]


def test_a_paused_model_holds_on_an_incident():
    d = decide(incident(), canary(paused=True, paused_reason="cap"), policy().models[0], NOW)
    assert d.kind == "held" and "automation paused (cap)" in d.reasons[-1]


def test_an_incident_on_the_champion_counts_against_the_champion():
    d = decide(incident(resource={"labels": {"revision_name": "churn-v3"}}, observed_value=None),
               state(), policy().models[0], NOW)  # fmt: skip
    assert d.kind == "held" and "open on champion churn-v3" in d.reasons[0]
