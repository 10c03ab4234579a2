"""The batch window core: policy block, partitions, when a window closes, manifest and run id."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from interlock.core import batch
from interlock.core.batch import Member
from interlock.core.effects import JoinWindow, TriggerDag
from interlock.core.events import DataLanded
from interlock.core.policy import Batch, PolicyError
from interlock.core.policy_load import load_policy
from interlock.core.route import route
from tests.builders import NOW, POLICY_DOC

BATCHED = {"quiet": "2m", "max_wait": "15m", "max_objects": 3, "sentinel": "_SUCCESS",
           "partition": "dt=([^/]+)/"}  # fmt: skip


def doc(**pipeline: Any) -> dict[str, Any]:
    d = copy.deepcopy(POLICY_DOC)
    d["pipelines"][0].update(pipeline)
    return d


def problems(**pipeline: Any) -> list[str]:
    with pytest.raises(PolicyError) as err:
        load_policy(doc(**pipeline))
    return err.value.problems


def test_batch_block_is_read_with_every_field_when_valid():
    b = load_policy(doc(batch={**BATCHED, "while_running": "coalesce"})).pipelines[0].batch
    assert b == Batch(120, 900, 3, "_SUCCESS", "dt=([^/]+)/", "coalesce")


def test_batch_takes_the_defaults_when_the_block_is_empty():
    assert load_policy(doc(batch={})).pipelines[0].batch == Batch()


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"quiet": 120}, 'pipelines[0].batch.quiet: expected a duration with its unit, like "90s", "2m" or "1h", got 120'),
        ({"quiet": "10m", "max_wait": "5m"}, "pipelines[0].batch.max_wait: must not be shorter than quiet (300s < 600s)"),
        ({"quiet": "0s"}, "pipelines[0].batch.quiet: must be between 1s and 7d, got '0s'"),
        ({"max_objects": 0}, "pipelines[0].batch.max_objects: must be between 1 and 100000, got 0"),
        ({"max_objects": "many"}, "pipelines[0].batch.max_objects: expected a whole number, got 'many'"),
        ({"sentinel": "a/_SUCCESS"}, 'pipelines[0].batch.sentinel: expected an object base name like "_SUCCESS" (no "/"), got \'a/_SUCCESS\''),
        ({"partition": "dt=("}, "pipelines[0].batch.partition: not a regular expression: missing ), unterminated subpattern at position 3"),
        ({"partition": "dt=.*/"}, "pipelines[0].batch.partition: needs at least one capture group (the partition), like \"dt=([^/]+)/\", got 'dt=.*/'"),
        ({"partition": 3}, 'pipelines[0].batch.partition: expected a regular expression with a capture group, like "dt=([^/]+)/", got 3'),
        ({"while_running": "skip"}, "pipelines[0].batch.while_running: expected \"queue\" or \"coalesce\", got 'skip'"),
        ({"debounce": "1m"}, "pipelines[0].batch.debounce: unknown key (expected one of: max_objects, max_wait, partition, quiet, sentinel, while_running)"),
    ],
)  # fmt: skip
def test_policy_names_the_path_and_the_fix_when_a_batch_value_is_bad(block, expected):
    assert problems(batch=block) == [expected]


def test_policy_reports_a_batch_that_is_not_a_mapping():
    assert problems(batch="2m") == [
        "pipelines[0].batch: expected a mapping (quiet, max_wait, max_objects, sentinel, "
        "partition, while_running), got '2m'"
    ]


def test_policy_refuses_debounce_and_says_what_to_write_when_it_is_set():
    (problem,) = problems(debounce="10m")
    assert problem.startswith("pipelines[0].debounce: no longer supported")
    assert "`batch: {quiet: 10m, max_wait: 10m}`" in problem
    assert problems(debounce="0s") == [
        "pipelines[0].debounce: no longer supported; remove it (one run per object generation is the default)"
    ]
    assert "`batch: {quiet: 600s, max_wait: 600s}`" in problems(debounce=600)[0]


def landed(name: str, generation: int = 1) -> DataLanded:
    return DataLanded(bucket="landing", name=name, generation=generation, size=3, md5_hash="bWQ1",
                      time_created=NOW)  # fmt: skip


def test_route_joins_the_partition_window_when_the_pipeline_is_batched():
    pol = load_policy(doc(batch=BATCHED))
    decision = route(landed("churn/dt=2026-11-30/part-1.csv"), pol, "e", NOW)
    (effect,) = decision.effects
    assert decision.kind == "batched" and isinstance(effect, JoinWindow)
    assert (effect.partition, effect.member.uri if effect.member else None) == (
        "2026-11-30",
        "gs://landing/churn/dt=2026-11-30/part-1.csv#1",
    )
    assert "joins pipeline churn-training's batch window 2026-11-30" in decision.reasons[0]


def test_route_marks_the_sentinel_when_it_lands_outside_the_glob():
    pol = load_policy(doc(batch=BATCHED))
    decision = route(landed("churn/dt=2026-11-30/_SUCCESS"), pol, "e", NOW)
    (effect,) = decision.effects
    assert isinstance(effect, JoinWindow) and effect.member is None
    assert "is the sentinel" in decision.reasons[0]


def test_route_ignores_interlocks_own_manifests_when_the_prefix_covers_them():
    pol = load_policy(doc(prefix="", glob="*", batch=BATCHED))
    assert route(landed("_interlock/manifests/p/x/w000000.json"), pol, "e", NOW).kind == "ignored"


def test_route_triggers_per_object_and_joins_when_one_pipeline_of_two_is_batched():
    d = doc()
    d["pipelines"].append({**d["pipelines"][0], "name": "batched", "batch": {}})
    decision = route(landed("churn/a.csv"), load_policy(d), "e", NOW)
    assert decision.kind == "triggered"
    assert [type(e) for e in decision.effects] == [TriggerDag, JoinWindow]
    assert decision.subject == "churn-training,batched"


def test_partition_is_whole_when_no_regex_or_no_match():
    assert batch.partition_of(Batch(), "a/b.csv") == "_all"
    assert batch.partition_of(Batch(partition="dt=([^/]+)/"), "a/b.csv") == "_all"
    assert batch.partition_of(Batch(partition="(a)/(b)?x"), "a/x") == "a/"


def window(**kw: Any) -> batch.BatchWindow:
    return replace(batch.opened("p", "_all", 0, NOW), **{"count": 1, **kw})


B = Batch(quiet_s=60, max_wait_s=300, max_objects=3, sentinel="_SUCCESS")


@pytest.mark.parametrize(
    ("w", "after_s", "reason"),
    [
        (window(), 30, None),
        (window(), 60, "quiet"),
        (window(last_at=NOW + timedelta(seconds=250)), 300, "max_wait"),
        (window(count=3), 0, "max_objects"),
        (window(sentinel=True, count=0), 0, "sentinel"),
        (window(count=0), 999, None),
        (window(state="closing"), 999, None),
    ],
)
def test_due_says_the_first_close_condition_when_it_holds(w, after_s, reason):
    assert batch.due(w, B, NOW + timedelta(seconds=after_s)) == reason


def test_joined_counts_only_new_members_and_keeps_the_sentinel_when_a_duplicate_comes():
    w = batch.joined(window(), NOW + timedelta(seconds=5), added=False, sentinel=True)
    assert (w.count, w.last_at, w.sentinel, w.version) == (1, NOW, True, 1)


PIPELINE = load_policy(doc(batch=BATCHED)).pipelines[0]


def member(name: str, generation: int = 1, found_by: str = "notification") -> Member:
    return Member("landing", name, generation, 3, "bWQ1", NOW, found_by)  # type: ignore[arg-type]


def test_listing_keeps_only_this_partitions_objects_created_before_the_close():
    closed = batch.closing(replace(window(), partition="1"), "sentinel", NOW)
    listing = [
        member("churn/dt=1/a.csv"), member("churn/dt=2/b.csv"), member("churn/dt=1/_SUCCESS"),
        replace(member("churn/dt=1/late.csv"), time_created=NOW + timedelta(seconds=1)),
    ]  # fmt: skip
    assert [m.name for m in batch.listed_members(PIPELINE, closed, listing)] == ["churn/dt=1/a.csv"]
    assert batch.listed_members(PIPELINE, closed, listing)[0].found_by == "listing"


def test_manifest_is_the_same_bytes_whatever_the_order_when_rebuilt():
    closed = batch.closing(window(), "quiet", NOW + timedelta(minutes=2))
    a, b = member("churn/b.csv"), member("churn/a.csv", found_by="listing")
    body = batch.manifest(closed, [a, b])
    assert body == batch.manifest(closed, [b, a])
    doc_ = json.loads(body)
    assert [o["uri"] for o in doc_["objects"]] == [
        "gs://landing/churn/a.csv#1",
        "gs://landing/churn/b.csv#1",
    ]
    assert (doc_["count"], doc_["close_reason"], doc_["objects"][0]["found_by"]) == (
        2,
        "quiet",
        "listing",
    )
    assert len(batch.sha256(body)) == 64


def test_run_id_and_manifest_name_follow_from_the_window_alone():
    w = replace(window(), partition="2026-11-30")
    assert batch.run_id(w) == batch.run_id(replace(w, count=9, version=7))
    assert batch.run_id(w) != batch.run_id(replace(w, epoch=1))
    assert batch.manifest_name(w) == "_interlock/manifests/p/2026-11-30/w000000.json"
    assert (
        batch.manifest_name(replace(w, partition="a/b c"))
        == "_interlock/manifests/p/a%2Fb%20c/w000000.json"
    )


def test_conf_carries_the_manifest_and_the_policys_fields_when_a_window_triggers():
    closed = batch.closing(replace(window(), partition="1"), "sentinel", NOW)
    conf = batch.conf(PIPELINE, closed, "gs://landing/m.json", "ab" * 32, 2)
    assert conf == {
        "manifest_uri": "gs://landing/m.json", "manifest_sha256": "ab" * 32, "count": 2,
        "close_reason": "sentinel", "window_start": "2026-11-25T12:00:00Z",
        "window_end": "2026-11-25T12:00:00Z", "partition": "1", "model": "churn",
        "input": "gs://landing/m.json",
    }  # fmt: skip


def test_manual_close_asks_to_close_the_partition_when_the_pipeline_is_batched():
    from interlock.core.effects import CloseWindow
    from interlock.core.errors import PermanentError
    from interlock.core.events import CloseRequested
    from interlock.core.manual import close

    req = CloseRequested(
        request_id="r1", pipeline="churn-training", partition="1", requested_by="ana"
    )
    decision = close(req, load_policy(doc(batch=BATCHED)), NOW)
    assert decision.manual and decision.kind == "triggered"
    assert decision.effects == (CloseWindow(PIPELINE, "1", NOW),)
    assert decision.reasons == ("manual request by ana: close window 1 of pipeline churn-training",)
    with pytest.raises(PermanentError, match="has no `batch:`"):
        close(req, load_policy(doc()), NOW)


def test_triggered_records_the_run_and_manifest_when_a_window_is_done():
    w = batch.triggered(window(), "run-1", "gs://b/m.json", "ab")
    assert (w.state, w.run_id, w.manifest_uri, w.version) == (
        "triggered",
        "run-1",
        "gs://b/m.json",
        1,
    )
    assert member("churn/a.csv").key == "landing/churn/a.csv#1"


def test_listing_room_goes_to_unknown_objects_when_members_are_listed_too():
    closed = batch.closing(replace(window(), partition="1", count=1), "sentinel", NOW)
    small = replace(PIPELINE, batch=replace(PIPELINE.batch, max_objects=2))  # type: ignore[type-var]
    listing = [member("churn/dt=1/a.csv"), member("churn/dt=1/b.csv")]
    found = batch.listed_members(small, closed, listing, known={listing[0].key})
    assert [m.name for m in found] == ["churn/dt=1/b.csv"]
