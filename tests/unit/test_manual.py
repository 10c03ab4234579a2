"""Manual requests: the same moves as automatic ones, marked manual, with their own limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interlock.core.effects import SetTraffic, TrafficSplit, TriggerDag
from interlock.core.errors import PermanentError
from interlock.core.events import PromoteRequested, RollbackRequested, TriggerRequested
from interlock.core.manual import promote, rollback, trigger
from interlock.core.state import ModelState
from tests.builders import NOW, policy, state

MP = policy().model("churn")


def req(version: str, force: bool = False) -> PromoteRequested:
    return PromoteRequested(
        request_id="r-1",
        model="churn",
        version=version,
        force=force,
        requested_by="ana@example.com",
    )


@pytest.mark.parametrize(
    ("request_", "st", "kind", "fragment"),
    [
        (req("4"), state(), "promoted", "manual request by ana@example.com: gate skipped"),
        (req("2"), state(), "stale", "re-send with force"),
        (req("2", force=True), state(), "promoted", "force: ordering guard skipped"),
        (req("3", force=True), state(), "stale", "already the champion"),
        (req("4"), state(candidate="4"), "stale", "already the candidate"),
        (req("4"), state(paused=True, paused_reason="cap"), "promoted", "automation resumed"),
        (req("4"), state(cooldown_until=NOW + timedelta(hours=1)), "promoted", "gate skipped"),
        (req("4"), state(rejected_versions=("4",)), "promoted", "gate skipped"),
        (req("1"), ModelState(), "promoted", "no champion yet"),
    ],
    ids=["newer", "older-refused", "older-forced", "same-as-champion", "same-as-candidate",
         "resumes-paused", "ignores-cooldown", "brings-back-rejected", "first-version"],
)  # fmt: skip
def test_manual_promote_decides_when_table_row(request_, st, kind, fragment):
    decision = promote(request_, st, MP, NOW)
    assert decision.kind == kind, decision.reasons
    assert decision.manual
    assert any(fragment in r for r in decision.reasons), decision.reasons


def test_manual_promote_clears_rejection_when_a_human_brings_a_version_back():
    decision = promote(req("4"), state(rejected_versions=("4",)), MP, NOW)
    assert decision.state is not None and "4" not in decision.state.rejected_versions


def test_manual_rollback_goes_to_previous_without_counting_as_automatic():
    decision = rollback(
        RollbackRequested(request_id="r-2", model="churn"),
        state(cooldown_until=NOW + timedelta(hours=1)),
        MP,
        NOW,
    )
    assert decision.kind == "rolled_back" and decision.manual
    assert decision.effects[0] == SetTraffic(
        "churn",
        "projects/p/locations/l/services/churn",
        (TrafficSplit("churn-v2", 100, "champion"),),
    )
    assert decision.state is not None and decision.state.rollbacks == ()


def test_manual_rollback_aborts_canary_when_one_is_in_flight():
    decision = rollback(
        RollbackRequested(request_id="r-3", model="churn"), state(candidate="4"), MP, NOW
    )
    assert decision.kind == "rolled_back"
    assert any("canary of v4 aborted" in r for r in decision.reasons)


def test_manual_rollback_needs_a_human_when_there_is_no_previous():
    decision = rollback(
        RollbackRequested(request_id="r-4", model="churn"), state(previous=None), MP, NOW
    )
    assert decision.kind == "needs_human" and decision.effects == ()


def test_manual_trigger_uses_request_id_as_run_id_when_object_is_allowed():
    decision = trigger(
        TriggerRequested(
            request_id="abc-1", pipeline="churn-training", object_uri="gs://landing/churn/a.csv#5"
        ),
        policy(),
    )
    (effect,) = decision.effects
    assert isinstance(effect, TriggerDag)
    assert effect.run_id == "manual__abc-1"
    # The pipeline's own conf template, as for a routed landing: the DAG needs `model`.
    assert effect.conf == {
        "object": "gs://landing/churn/a.csv#5", "md5": None, "size": None,
        "event_id": "abc-1", "model": "churn", "input": "gs://landing/churn/a.csv#5",
    }  # fmt: skip
    assert decision.manual


@pytest.mark.parametrize(
    ("pipeline", "uri", "field", "fragment"),
    [
        (
            "churn-training",
            "gs://other/churn/a.csv#5",
            "object_uri",
            "not pipeline churn-training's bucket",
        ),
        ("churn-training", "gs://landing/../etc/passwd#5", "object_uri", "'..'"),
        ("churn-training", "gs://landing/a{{ x }}.csv#5", "object_uri", "{{"),
        ("nope", "gs://landing/a.csv#5", "pipeline", "unknown pipeline 'nope'"),
        ("churn-training", "gs://landing/other/a.csv#5", "object_uri", "prefix 'churn/'"),
        ("churn-training", "gs://landing/churn/a.json#5", "object_uri", "glob '*.csv'"),
    ],
    ids=["other-bucket", "dot-dot", "template", "unknown-pipeline", "prefix", "glob"],
)
def test_manual_trigger_refuses_when_input_is_outside_the_policy(pipeline, uri, field, fragment):
    with pytest.raises(PermanentError) as err:
        trigger(TriggerRequested(request_id="x", pipeline=pipeline, object_uri=uri), policy())
    assert err.value.field == field
    assert fragment in str(err.value)
