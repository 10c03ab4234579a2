"""Outages longer than the in-process retries and Pub/Sub's patience lose nothing: the events wait
in the ledger as pending, the tick re-drives them after recovery, each effect applied once.

Size: `make test` keeps the outage at a minute (already past what Pub/Sub's five attempts with
the rig's 8 s budget and 1-10 s backoff ride out, ≈ 55 s); `make reliability` at 20 minutes
with 100+ objects landing during it.
"""

from __future__ import annotations

import os

from .conftest import SCALE
from .rig import Rig, wait_for
from .test_faults import land_notifications

FULL = SCALE > 1
OUTAGE_S = float(os.environ.get("INTERLOCK_RELIABILITY_OUTAGE_S", 1200 if FULL else 60))
OBJECTS = 8 * SCALE  # 104 at full size
# After recovery: the longest backoff (retry_max 10 s), a tick period, and the work itself.
RECOVERY_S = 120 + OBJECTS


def test_airflow_down_longer_than_pubsub_patience_loses_no_landing_and_runs_each_once(
    rig: Rig, tmp_path
):
    scenario = "Airflow down (long)"
    rig.airflow_proxy.mode = "down"
    try:
        landed = land_notifications(rig, scenario, tmp_path, OBJECTS // 2)
        parked = rig.ride_out(scenario, OUTAGE_S / 2, set(landed.values()))
        more = land_notifications(rig, scenario, tmp_path, OBJECTS - OBJECTS // 2)
        landed.update(more)
        parked |= rig.ride_out(scenario, OUTAGE_S / 2, set(more.values()))
    finally:
        rig.airflow_proxy.mode = "pass"
    outcomes = rig.settle(scenario, timeout_s=RECOVERY_S, keys=landed.values())
    assert sorted({o.kind for o in outcomes.values()}) == ["triggered"], outcomes
    assert parked, "no landing waited as pending: the outage was too short to test anything"
    rig.check_one_run_each(scenario, landed)
    # The final outcome is committed just before the record is unparked: wait for both.
    wait_for(lambda: not rig.parked_keys() & set(landed.values()), 30, "every landing unparked")
    rig.reconcile(scenario, landed.values())


def test_cloud_run_down_during_a_promotion_promotes_once_after_recovery(rig: Rig):
    scenario = "Cloud Run down (long)"
    rig.serve_first(scenario, "outage")
    before = rig.counters()
    rig.fault(match="/v2/", status=503, message="Cloud Run is down")
    try:
        key = rig.publish(scenario, rig.evaluation("outage", 2))
        # In `make test` half the outage: the mechanism is the Airflow scenario's, and time counts.
        parked = rig.ride_out(scenario, OUTAGE_S if FULL else OUTAGE_S / 2, {key})
        assert rig.outcome(key) is None  # nothing final while Cloud Run is down
    finally:
        rig.clear_faults()
    assert parked == {key}
    outcome = wait_for(lambda: rig.outcome(key), RECOVERY_S, "the promotion after recovery")
    assert outcome.kind == "promoted", outcome
    assert rig.traffic("outage") == {"outage-v1": 90, "outage-v2": 10}
    assert rig.counters()["revisions_created"] - before["revisions_created"] == 1
    wait_for(lambda: key not in rig.parked_keys(), 30, "the promotion unparked")
    rig.check_serving("outage")
    rig.settle(scenario)
