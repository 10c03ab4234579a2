"""At-least-once in, exactly-once effects out: duplicates, re-published requests, crashes."""

from __future__ import annotations

import random
import time
import uuid

import pytest

from interlock.core.events import PromoteRequested, RollbackRequested
from interlock.ports import Message

from .conftest import SCALE
from .rig import FIGURES, Rig, wait_for


@pytest.mark.parametrize("copies", [2, 5, 10])
def test_same_evaluation_delivered_many_times_concurrently_has_one_effect(rig: Rig, copies: int):
    scenario = "duplicate deliveries"
    before = rig.counters()
    version = {2: 1, 5: 2, 10: 3}[copies]
    key = rig.publish(scenario, rig.evaluation("dup", version), times=copies)
    outcomes = rig.settle(scenario)
    assert outcomes[key].kind == "promoted"
    after = rig.counters()
    revisions = after["revisions_created"] - before["revisions_created"]
    traffic = after["traffic_updates"] - before["traffic_updates"]
    FIGURES.duplicate_effects[scenario] += max(0, revisions - 1) + max(0, traffic - 1)
    assert revisions == 1, f"{revisions} revisions for one evaluation"
    assert traffic == 1, f"{traffic} traffic changes for one evaluation"
    rig.check_serving("dup")


def test_same_object_notified_many_times_starts_one_dag_run(rig: Rig, tmp_path):
    from interlock_dev.deliver import land

    scenario = "duplicate deliveries"
    csv = tmp_path / "day.csv"
    csv.write_text("a,target\n1,0\n")
    stored = land(
        rig.stack.info, csv, "interlock-landing", f"churn/incoming/{uuid.uuid4().hex[:8]}.csv"
    )
    data, attributes = stored.notification()
    keys = {
        rig.publish_raw(
            scenario, "interlock-data", Message(data, attributes), "GCS notification"
        ).key
        for _ in range(4)
    }
    assert len(keys) == 1  # four message ids, one object generation: one idempotency key
    rig.settle(scenario, keys=keys)
    runs = [
        r
        for r in rig.stack.airflow.list_runs("interlock_noop")
        if r["conf"].get("object") == stored.uri
    ]
    FIGURES.duplicate_effects[scenario] += max(0, len(runs) - 1)
    assert len(runs) == 1


def test_manual_request_republished_with_same_request_id_applies_once(rig: Rig):
    scenario = "re-published requests"
    rig.publish(scenario, rig.evaluation("manual", 1))
    rig.settle(scenario)
    before = rig.counters()
    request = PromoteRequested(
        request_id=f"req-{uuid.uuid4().hex[:8]}", model="manual", version="3", requested_by="ops"
    )
    for _ in range(3):
        rig.publish(scenario, request)  # a new message id each time: the producer retried
    outcomes = rig.settle(scenario)
    assert [o.kind for o in outcomes.values()] == ["promoted", "promoted"]
    after = rig.counters()
    extra = (after["revisions_created"] - before["revisions_created"]) - 1
    FIGURES.duplicate_effects[scenario] += max(0, extra)
    assert extra == 0
    assert rig.traffic("manual") == {"manual-v1": 90, "manual-v3": 10}
    rig.check_serving("manual")


def test_handler_killed_mid_effect_converges_after_redelivery(rig: Rig):
    scenario = "killed mid-effect"
    kills = 4 * SCALE
    rng = random.Random(7)
    rig.publish(scenario, rig.evaluation("kill", 1))
    rig.settle(scenario)
    # Slow Cloud Run writes widen the window in which a kill lands mid-effect.
    rig.fault(match="PATCH /v2/", latency_s=0.4)
    for i in range(kills):
        # Every round has effects: a forced promotion (deploy, traffic, alias) or a rollback.
        if i % 2 == 0:
            request: object = PromoteRequested(request_id=f"k-{uuid.uuid4().hex[:10]}", model="kill",
                                               version=str(2 + (i // 2) % 11), force=True)  # fmt: skip
        else:
            request = RollbackRequested(request_id=f"k-{uuid.uuid4().hex[:10]}", model="kill")
        key = rig.publish(scenario, request)
        time.sleep(rng.uniform(0.05, 1.2))
        rig.kill_function("on_request")
        rig.restart_function("on_request")
        wait_for(lambda key=key: rig.outcome(key), 60, f"a final state for {key}")
        rig.check_serving("kill")
    rig.clear_faults()
    outcomes = rig.settle(scenario)
    assert len(outcomes) == len({s.key for s in rig.sent[scenario]})
    assert sum(o.kind in ("promoted", "rolled_back") for o in outcomes.values()) >= kills // 2
    rig.reconcile(scenario)
