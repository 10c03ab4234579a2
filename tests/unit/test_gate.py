"""Gate: (evaluation, state, policy) → decision kind and reasons, as a table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interlock.core.effects import DeployRevision, MoveAliases, SetTraffic, TrafficSplit
from interlock.core.gate import gate
from interlock.core.state import EvaluationRecord, ModelState, Serving
from tests.builders import NOW, evaluated, policy, state

M = {"auc": 0.91, "latency_ms": 80.0}
NAN, INF = float("nan"), float("inf")

CASES = [
    # id, evaluation overrides, state, expected kind, substrings expected in the reasons
    ("passes-all-rules", {}, state(), "promoted", ["gate passed", "canary v4: 10 %"]),
    ("auc-below-absolute", {"metrics": {**M, "auc": 0.84}}, state(), "rejected", ["auc = 0.84, required >= 0.85", "not promoted"]),
    ("latency-lower-is-better-fails", {"metrics": {**M, "latency_ms": 121.0}}, state(), "rejected", ["latency_ms = 121, required <= 120"]),
    ("latency-at-bound-passes", {"metrics": {**M, "latency_ms": 120.0}}, state(), "promoted", []),
    ("auc-worse-than-champion-margin", {"metrics": {**M, "auc": 0.894}}, state(), "rejected", ["required >= 0.895", "champion v3 = 0.9"]),
    ("auc-within-negative-margin", {"metrics": {**M, "auc": 0.8951}}, state(), "promoted", []),
    ("every-failure-listed", {"metrics": {"auc": 0.5, "latency_ms": 500.0}, "sample_count": 5}, state(), "rejected",
     ["sample_count 5 < min_samples 100", "auc = 0.5", "latency_ms = 500"]),
    ("missing-metric", {"metrics": {"auc": 0.91}}, state(), "rejected", ["metric latency_ms missing"]),
    ("nan-metric", {"metrics": {**M, "auc": NAN}}, state(), "rejected", ["metric auc is nan"]),
    ("inf-metric", {"metrics": {**M, "latency_ms": INF}}, state(), "rejected", ["metric latency_ms is inf"]),
    ("other-dataset-not-comparable", {"dataset_id": "ds2"}, state(), "rejected", ["not comparable", "'ds2'", "'ds1'"]),
    ("too-few-samples", {"sample_count": 99}, state(), "rejected", ["sample_count 99 < min_samples 100"]),
    ("older-than-champion", {}, state(champion="5"), "stale", ["v4 is older than the champion v5"]),
    ("equal-to-champion-other-run", {"run_id": "other"}, state(champion="4"), "stale", ["v4 is already the champion"]),
    ("same-evaluation-again", {}, state(champion="4"), "duplicate", ["evaluation run-4 of v4 already decided"]),
    ("older-than-candidate", {}, state(candidate="5"), "stale", ["older than the candidate v5"]),
    ("same-as-candidate", {}, state(candidate="4"), "duplicate", []),
    ("previously-rolled-back", {}, state(rejected_versions=("4",)), "rejected", ["only a manual promote"]),
    ("automation-paused", {}, state(paused=True, paused_reason="cap"), "held", ["automation paused (cap)"]),
    ("in-cooldown", {}, state(cooldown_until=NOW + timedelta(minutes=1)), "held", ["in cooldown until"]),
    ("cooldown-over", {}, state(cooldown_until=NOW - timedelta(minutes=1)), "promoted", []),
    ("no-champion-absolute-only", {"metrics": {**M, "auc": 0.86}}, ModelState(), "promoted",
     ["gate passed: auc >= 0.85, latency_ms <= 120\n", "no champion yet: auc >= champion - 0.005 not applied", "v4 serves 100 %"]),
    ("no-champion-absolute-fails", {"metrics": {**M, "auc": 0.84}}, ModelState(), "rejected", ["auc = 0.84"]),
    ("newer-supersedes-candidate", {"version": "6", "run_id": "r6"}, state(candidate="5"), "promoted", ["supersedes candidate v5"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "st", "kind", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_gate_decides_when_table_row(overrides, st, kind, expected):
    decision = gate(evaluated(**overrides), st, policy().model("churn"), NOW)
    assert decision.kind == kind, decision.reasons
    text = "\n".join(decision.reasons) + "\n"
    for fragment in expected:
        assert fragment in text
    if kind not in ("promoted",):
        assert decision.effects == ()


SERVICE = "projects/p/locations/l/services/churn"
VERTEX_MODEL = "projects/p/locations/l/models/churn"


def test_gate_compares_across_datasets_when_policy_allows_it():
    mp = policy(gate={"same_dataset": False}).model("churn")
    decision = gate(evaluated(dataset_id="ds2"), state(), mp, NOW)
    assert decision.kind == "promoted"
    assert any("relative rules applied anyway" in r for r in decision.reasons)
    worse = gate(evaluated(dataset_id="ds2", metrics={**M, "auc": 0.86}), state(), mp, NOW)
    assert worse.kind == "rejected"


def test_gate_skips_relative_rule_when_champion_lacks_the_metric():
    st = state().replace(
        champion=Serving("3", "churn-v3", EvaluationRecord("3", "ds1", 10, {}, "r3"))
    )
    decision = gate(evaluated(), st, policy().model("churn"), NOW)
    assert decision.kind == "promoted"
    assert any("has no auc" in r for r in decision.reasons)


def test_gate_starts_canary_with_split_and_alias_when_passing():
    decision = gate(evaluated(), state(), policy().model("churn"), NOW)
    deploy, traffic, alias = decision.effects
    assert deploy == DeployRevision(
        model="churn", version="4", revision="churn-v4",
        service=SERVICE, vertex_model=VERTEX_MODEL,
        image="img:1", env={"MODEL_NAME": "churn"}, port=8080,
        labels={"interlock-model": "churn", "interlock-version": "4"},
    )  # fmt: skip
    assert isinstance(traffic, SetTraffic)
    assert traffic.splits == (
        TrafficSplit("churn-v3", 90, "champion"),
        TrafficSplit("churn-v4", 10, "candidate"),
        TrafficSplit("churn-v2", 0, "previous"),
    )
    assert traffic.service == SERVICE
    assert alias == MoveAliases("churn", VERTEX_MODEL, "4", add=("candidate",))
    assert decision.state is not None and decision.state.candidate is not None
    assert decision.state.candidate.version == "4"
    assert decision.state.candidate.evaluation is not None


def test_gate_serves_first_version_fully_when_no_champion():
    decision = gate(evaluated(version="1"), ModelState(), policy().model("churn"), NOW)
    assert decision.kind == "promoted"
    assert decision.state is not None and decision.state.champion is not None
    assert decision.state.champion.version == "1" and decision.state.candidate is None
    traffic = next(e for e in decision.effects if isinstance(e, SetTraffic))
    assert traffic.splits == (TrafficSplit("churn-v1", 100, "champion"),)
    assert decision.state.guard_until == NOW + timedelta(hours=1)


def test_gate_compares_versions_numerically_when_digits_differ():
    assert (
        gate(evaluated(version="10"), state(champion="9"), policy().model("churn"), NOW).kind
        == "promoted"
    )
    assert (
        gate(evaluated(version="9"), state(champion="10"), policy().model("churn"), NOW).kind
        == "stale"
    )
