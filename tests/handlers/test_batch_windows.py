"""Batched pipelines through the handler and the tick: one run per window, nothing lost."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from interlock.core.events import DataLanded
from interlock.core.policy_load import load_policy
from tests.builders import NOW, POLICY_DOC
from tests.handlers.world import World, inbound

BATCH = {"quiet": "2m", "max_wait": "10m", "max_objects": 50, "sentinel": "_SUCCESS",
         "partition": "dt=([^/]+)/"}  # fmt: skip


def world(**batch: Any) -> World:
    doc = copy.deepcopy(POLICY_DOC)
    doc["pipelines"][0]["batch"] = {**BATCH, **batch}
    return World(policy=load_policy(doc))


def land(w: World, name: str, ce_id: str | None = None, notify: bool = True) -> DataLanded:
    obj = w.storage.put("landing", name, name.encode())
    landed = DataLanded(bucket="landing", name=name, generation=obj.generation, size=obj.size,
                        md5_hash=obj.md5, time_created=obj.time_created)  # fmt: skip
    if notify:
        w.handler.handle(inbound(landed, ce_id or f"e-{name}-{obj.generation}"))
    return landed


def manifests(w: World) -> list[dict[str, Any]]:
    found = w.storage.list("landing", "_interlock/manifests/")
    return [json.loads(w.storage.read("landing", m.name) or b"") for m in found]


def test_one_run_covers_every_file_when_the_sentinel_lands():
    w = world()
    names = [f"churn/dt=1/part-{n}.csv" for n in range(4)]
    for name in names:
        land(w, name)
    assert w.dags.runs == {}
    land(w, "churn/dt=1/_SUCCESS")
    (run,) = w.dags.runs.values()
    assert run.conf["count"] == 4 and run.conf["close_reason"] == "sentinel"
    (manifest,) = manifests(w)
    assert [o["name"] for o in manifest["objects"]] == names
    assert (
        run.conf["manifest_uri"]
        == "gs://landing/_interlock/manifests/churn-training/1/w000000.json"
    )


def test_a_redelivered_notification_is_a_no_op_when_its_object_is_already_a_member():
    w = world()
    landed = land(w, "churn/dt=1/a.csv")
    w.ledger._decisions.clear()  # as if the first delivery crashed before recording its outcome
    again = w.handler.handle(inbound(landed, "e-again"))
    assert again.kind == "batched" and "already in window churn-training/1#0" in again.effects[0]
    assert w.ledger.window("churn-training", "1", 0).count == 1  # type: ignore[union-attr]


def test_the_tick_closes_the_window_when_quiet_has_passed():
    w = world()
    land(w, "churn/dt=1/a.csv")
    w.now = NOW + timedelta(minutes=1)
    assert w.ticker.tick()["windows.open"] == 1 and not w.dags.runs
    w.now = NOW + timedelta(minutes=3)
    assert w.ticker.tick()["windows.closed"] == 1
    (run,) = w.dags.runs.values()
    assert run.conf["close_reason"] == "quiet" and run.conf["count"] == 1


def test_the_listing_adds_objects_whose_notification_is_late_when_the_window_closes():
    w = world()
    land(w, "churn/dt=1/a.csv")
    land(w, "churn/dt=1/b.csv", notify=False)  # its notification is still on its way
    land(w, "churn/dt=2/c.csv", notify=False)  # another partition: not this window
    land(w, "churn/dt=1/_SUCCESS")
    (manifest,) = manifests(w)
    assert [(o["name"], o["found_by"]) for o in manifest["objects"]] == [
        ("churn/dt=1/a.csv", "notification"),
        ("churn/dt=1/b.csv", "listing"),
    ]
    # The late notification finds its object already a member: no second run, nothing new.
    late = w.storage.list("landing", "churn/dt=1/b.csv")[0]
    w.handler.handle(inbound(DataLanded("landing", late.name, late.generation), "late"))
    assert len(w.dags.runs) == 1 and len(manifests(w)) == 1


def test_an_object_after_the_close_opens_the_next_window_when_it_lands():
    w = world()
    land(w, "churn/dt=1/a.csv")
    land(w, "churn/dt=1/_SUCCESS")
    w.now = NOW + timedelta(seconds=1)
    land(w, "churn/dt=1/b.csv")
    assert w.ledger.window("churn-training", "1", 1).count == 1  # type: ignore[union-attr]
    w.now = NOW + timedelta(minutes=5)
    w.ticker.tick()
    assert len(w.dags.runs) == 2
    assert sorted(o["name"] for m in manifests(w) for o in m["objects"]) == [
        "churn/dt=1/a.csv",
        "churn/dt=1/b.csv",
    ]


def test_max_objects_closes_the_window_at_once_when_it_is_reached():
    w = world(max_objects=2)
    land(w, "churn/dt=1/a.csv")
    land(w, "churn/dt=1/b.csv")
    (run,) = w.dags.runs.values()
    assert run.conf["close_reason"] == "max_objects"


def test_a_close_interrupted_by_airflow_finishes_on_the_tick_when_airflow_is_back():
    w = world()
    land(w, "churn/dt=1/a.csv")
    w.dags.unavailable = True
    outcome = w.handler.handle(inbound(DataLanded("landing", "churn/dt=1/_SUCCESS", 9), "s"))
    assert outcome.kind == "pending"
    assert w.ledger.window("churn-training", "1", 0).state == "closing"  # type: ignore[union-attr]
    w.dags.unavailable = False
    w.now = NOW + timedelta(minutes=2)
    w.ticker.tick()
    assert len(w.dags.runs) == 1
    assert w.ledger.window("churn-training", "1", 0).state == "triggered"  # type: ignore[union-attr]


def test_coalesce_keeps_the_window_open_when_the_previous_run_still_runs():
    w = world(while_running="coalesce")
    land(w, "churn/dt=1/a.csv")
    land(w, "churn/dt=1/_SUCCESS")
    ((dag_id, first),) = w.dags.runs
    w.dags.finish(dag_id, first, "running")
    land(w, "churn/dt=2/b.csv")
    w.now = NOW + timedelta(minutes=5)
    assert w.ticker.tick()["windows.held"] == 1 and len(w.dags.runs) == 1
    w.dags.finish(dag_id, first, "success")
    assert w.ticker.tick()["windows.closed"] == 1 and len(w.dags.runs) == 2


def close_request(pipeline: str, partition: str | None = None, rid: str = "r1"):
    from interlock.core.events import CloseRequested

    return CloseRequested(
        request_id=rid, pipeline=pipeline, partition=partition, requested_by="ana"
    )


def test_a_manual_close_triggers_the_window_and_is_audited_when_asked():
    w = world()
    land(w, "churn/dt=1/a.csv")
    land(w, "churn/dt=2/b.csv")
    outcome = w.handler.handle(inbound(close_request("churn-training", "1")))
    assert outcome.manual and outcome.requested_by == "ana"
    assert "manual request by ana: close window 1 of pipeline churn-training" in outcome.reasons
    (run,) = w.dags.runs.values()
    assert run.conf["close_reason"] == "manual" and run.conf["partition"] == "1"
    assert w.ledger.window("churn-training", "2", 0).state == "open"  # type: ignore[union-attr]


def test_a_manual_close_says_nothing_to_close_when_no_window_is_open():
    w = world()
    outcome = w.handler.handle(inbound(close_request("churn-training")))
    assert outcome.effects == ("pipeline churn-training has no open window: nothing to close",)


def test_a_manual_close_is_dead_lettered_with_the_reason_when_the_pipeline_is_not_batched():
    w = World()
    outcome = w.handler.handle(inbound(close_request("churn-training")))
    assert outcome.kind == "dead_lettered"
    assert "has no `batch:`: there is no window to close" in outcome.reasons[0]


def test_the_sentinel_closes_a_window_of_listed_objects_when_it_arrives_before_their_notifications():
    w = world()
    land(w, "churn/dt=1/a.csv", notify=False)
    land(w, "churn/dt=1/b.csv", notify=False)
    land(w, "churn/dt=1/_SUCCESS")
    (run,) = w.dags.runs.values()
    assert run.conf["count"] == 2
    assert {o["found_by"] for o in manifests(w)[0]["objects"]} == {"listing"}


def test_a_sentinel_alone_closes_with_no_run_when_nothing_landed():
    w = world()
    outcome = w.handler.handle(inbound(DataLanded("landing", "churn/dt=9/_SUCCESS", 5), "s"))
    assert "closed (sentinel) with no object: no run" in outcome.effects[0]
    assert w.dags.runs == {}


def test_the_listing_spends_its_room_only_on_unknown_objects_when_the_window_is_nearly_full():
    w = world(max_objects=3)
    land(w, "churn/dt=1/a.csv")
    land(w, "churn/dt=1/b.csv")
    land(w, "churn/dt=1/c.csv", notify=False)
    land(w, "churn/dt=1/_SUCCESS")
    (manifest,) = manifests(w)
    assert [o["name"] for o in manifest["objects"]] == [
        "churn/dt=1/a.csv",
        "churn/dt=1/b.csv",
        "churn/dt=1/c.csv",
    ]
