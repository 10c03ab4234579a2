"""Route: (landed object, policy) → DAG triggers with deterministic run ids and pinned conf."""

from __future__ import annotations

import pytest

from interlock.core.effects import TriggerDag
from interlock.core.events import DataLanded
from interlock.core.policy_load import load_policy
from interlock.core.route import route
from tests.builders import NOW, POLICY_DOC, policy


def landed(
    name: str = "churn/2026-11-25.csv", bucket: str = "landing", generation: int = 17
) -> DataLanded:
    return DataLanded(bucket=bucket, name=name, generation=generation, size=42, md5_hash="abc==")


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        (landed(), "triggered"),
        (landed(name="churn/sub/dir/file.csv"), "triggered"),
        (landed(name="churn/file.json"), "ignored"),
        (landed(name="other/file.csv"), "ignored"),
        (landed(bucket="elsewhere"), "ignored"),
    ],
    ids=["match", "nested-match", "glob-miss", "prefix-miss", "bucket-miss"],
)
def test_route_matches_bucket_prefix_and_glob_when_object_lands(obj, kind):
    assert route(obj, policy(), "evt-1", NOW).kind == kind


def test_route_pins_object_generation_in_conf_when_triggering():
    decision = route(landed(), policy(), "evt-1", NOW)
    (trigger,) = decision.effects
    assert isinstance(trigger, TriggerDag)
    assert trigger.dag_id == "train_on_arrival"
    assert trigger.conf == {
        "object": "gs://landing/churn/2026-11-25.csv#17",
        "md5": "abc==",
        "size": 42,
        "event_id": "evt-1",
        "model": "churn",
        "input": "gs://landing/churn/2026-11-25.csv#17",
    }


def test_route_derives_the_same_run_id_when_the_same_generation_arrives_twice():
    first = route(landed(), policy(), "evt-1", NOW).effects[0]
    again = route(landed(), policy(), "evt-2", NOW).effects[0]
    newer = route(landed(generation=18), policy(), "evt-3", NOW).effects[0]
    assert (
        isinstance(first, TriggerDag)
        and isinstance(again, TriggerDag)
        and isinstance(newer, TriggerDag)
    )
    assert first.run_id == again.run_id
    assert first.run_id != newer.run_id
    assert first.run_id.startswith("gcs__")


def test_route_triggers_every_matching_pipeline_when_two_match():
    second = {**POLICY_DOC["pipelines"][0], "name": "audit", "dag_id": "audit_dag", "conf": {}}
    pol = load_policy({**POLICY_DOC, "pipelines": [POLICY_DOC["pipelines"][0], second]})
    decision = route(landed(), pol, "evt", NOW)
    assert [e.dag_id for e in decision.effects] == ["train_on_arrival", "audit_dag"]  # type: ignore[union-attr]
    assert decision.subject == "churn-training,audit"
