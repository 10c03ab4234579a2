"""Lineage and history, pure: outcomes carry what a decision was made on and the traffic it set;
the chain and the split at a time are read back from them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from interlock.core import history, lineage
from interlock.core.events import Outcome, Share, Trained
from interlock.core.gate import gate
from interlock.core.inbound import Inbound
from interlock.core.lineage import Answer, RegistryVersion
from interlock.core.outcome import outcome_of, shares
from interlock.core.runs import WatchedRun
from tests.builders import NOW, evaluated, policy, state

EVALUATED = "dev.interlock.model.evaluated.v1"
OBSERVED = "dev.interlock.model.observed.v1"
PROMOTE = "dev.interlock.model.promote.requested.v1"
INPUT = "gs://landing/churn/a.csv#7"


def trained(version: str, run: str = "run-x") -> Trained:
    return Trained(version, run, "ds1", 100, {"auc": 0.9}, NOW, INPUT, "gs://m/x")


def out(minute: int, kind: str, *traffic: tuple[str, int, str | None], **extra) -> Outcome:  # type: ignore[no-untyped-def]
    fields = {
        "decision_id": f"d-{minute}", "kind": kind, "subject": "churn", "event_id": f"e-{minute}",
        "event_type": OBSERVED, "reasons": (f"reason {minute}",), "effects": (),
        "decided_at": NOW + timedelta(minutes=minute),
        "traffic": tuple(Share(v, f"churn-v{v}", p, t) for v, p, t in traffic),
    }  # fmt: skip
    fields.update(extra)
    return Outcome(**fields)


# Newest first, as the ledger lists them.
LEDGER = [
    out(40, "rolled_back", ("1", 100, "champion")),
    out(35, "held"),
    out(30, "promoted", ("2", 100, "champion"), ("1", 0, "previous")),
    out(20, "promoted", ("1", 90, "champion"), ("2", 10, "candidate"),
        event_type=EVALUATED, trained=trained("2", "run-2")),
    out(15, "rejected", event_type=EVALUATED, trained=trained("2", "run-2b")),
    out(10, "held"),
    out(0, "promoted", ("1", 100, "champion"), event_type=EVALUATED, trained=trained("1")),
]  # fmt: skip
RUN = WatchedRun(key="run:d:run-2", dag_id="train", run_id="run-2", pipeline="p", object=INPUT,
                 landing_key="gcs:x", event_id="g", event_type="t", triggered_at=NOW,
                 next_check=NOW)  # fmt: skip


def test_history_at_a_time_is_the_last_block_set_by_then():
    assert history.served_at(LEDGER, NOW - timedelta(minutes=1)) is None
    during = history.served_at(LEDGER, NOW + timedelta(minutes=25))
    assert during is not None and during.share_of("2") == 10 and during.share_of("1") == 90
    assert during.until == NOW + timedelta(minutes=30) and during.decision.decision_id == "d-20"
    exact = history.served_at(LEDGER, NOW + timedelta(minutes=40))
    assert exact is not None and exact.until is None and exact.share_of("2") == 0


def test_history_between_starts_with_the_block_in_force_at_start():
    span = history.served_between(LEDGER, NOW + timedelta(minutes=25), NOW + timedelta(minutes=35))
    assert [p.decision.decision_id for p in span] == ["d-20", "d-30"]


def test_serving_version_is_the_largest_share_of_the_newest_block():
    share = history.serving_version(LEDGER)
    assert share is not None and share.version == "1"
    assert history.serving_version([]) is None


def test_same_microsecond_decisions_keep_the_ledger_order():
    a = out(0, "promoted", ("1", 100, "champion"), decision_id="first")
    b = out(0, "promoted", ("2", 100, "champion"), decision_id="second")
    assert [p.decision.decision_id for p in history.periods([b, a])] == ["first", "second"]


def test_evidence_of_a_version_its_gate_run_moves_and_quiet_verdicts():
    ev = lineage.evidence("2", LEDGER, [RUN])
    assert ev.gate is not None and ev.gate.decision_id == "d-20"  # the promotion, not the reject
    assert ev.run == RUN and ev.revision == "churn-v2" and ev.share == 0
    assert [m.decision_id for m in ev.moves] == ["d-20", "d-30", "d-40"]
    assert [v.decision_id for v in ev.verdicts] == ["d-35"]  # held in between; d-10 was before


def test_evidence_of_a_version_only_rejected_keeps_its_last_evaluation():
    ev = lineage.evidence("2", LEDGER[4:], [])
    assert ev.gate is not None and ev.gate.kind == "rejected" and ev.moves == ()


def test_a_manual_promote_stands_where_the_evaluation_would():
    ask = out(50, "promoted", ("3", 100, "champion"), event_type=PROMOTE, manual=True,
              request_id="r-1", requested_by="ana")  # fmt: skip
    built = lineage.chain("churn", lineage.evidence("3", [ask, *LEDGER], []), Answer(None, "x"),
                          None, None)  # fmt: skip
    steps = {link.step: link for link in built.links}
    assert steps["evaluation"].text == "none decided on: promoted by hand by ana (request r-1)"
    assert steps["input"].holds is False and built.share == 100


REGISTRY = RegistryVersion(
    name="projects/p/locations/l/models/churn@2",
    aliases=("previous",),
    labels={"interlock-run": lineage.run_digest("run-2")},
    description=json.dumps({"run_id": "run-2", "input_uri": INPUT, "input_md5": "bWQ1",
                            "manifest_sha256": "ab" * 32, "objects": 3, "extra": "x"}),
    artifact_uri="gs://m/x",
)  # fmt: skip


def test_chain_links_say_where_they_come_from_and_whether_they_hold():
    ev = lineage.evidence("2", LEDGER, [RUN])
    found = lineage.input_answer(INPUT, "bWQ1", (10, "bWQ1"))
    built = lineage.chain("churn", ev, REGISTRY, found, lineage.run_answer("run-2", "success"))
    steps = {link.step: link for link in built.links}
    assert steps["input"].text == f"{INPUT}, md5 bWQ1, manifest sha256 {'ab' * 32}, 3 objects"
    assert steps["input"].holds and steps["input"].source == "ledger (landing)"
    assert steps["run"].check == "still in Airflow, state success"
    assert steps["registry"].check == "version exists; label interlock-run matches run run-2"
    assert steps["registry"].text.endswith("(previous)") and built.problems == ()


def test_without_the_ledger_s_evaluation_the_registry_description_names_input_and_run():
    ev = lineage.evidence("2", [], [])
    assert lineage.input_of(ev, REGISTRY) == (INPUT, "bWQ1")
    assert lineage.run_of(ev, REGISTRY) == "run-2"
    built = lineage.chain("churn", ev, REGISTRY, None, None)
    assert {link.step: link.source for link in built.links}["input"] == "registry"


@pytest.mark.parametrize("text", ["", "not json", "[1]", json.dumps({"run_id": None})])
def test_a_description_that_is_not_the_dag_s_record_gives_nothing(text):
    assert lineage.described(RegistryVersion("n", (), {}, text, "")) == {}
    assert lineage.described(None) == {}


def test_answers_that_no_longer_hold():
    assert lineage.run_answer("r", None).holds is False
    mismatch = RegistryVersion("n", (), {"interlock-run": "0" * 32}, "", "")
    assert lineage.registry_answer(mismatch, "r").holds is False
    assert lineage.registry_answer(mismatch, None).detail == "version exists; no run label"
    assert (
        lineage.input_answer(INPUT, None, (3, None)).detail == "generation still exists (3 bytes)"
    )


def test_outcome_of_a_promotion_carries_its_evaluation_and_the_traffic_it_set():
    ev = evaluated("4", input_uri=INPUT)
    decision = gate(ev, state(champion="3", previous=None), policy().model("churn"), NOW)
    event = Inbound(id="e4", type=EVALUATED, source="s", time=None, payload=ev)
    recorded = outcome_of(event, "k", decision, (), NOW)
    assert recorded.trained is not None and recorded.trained.input_uri == INPUT
    assert recorded.trained.run_id == "run-4" and recorded.trained.version == "4"
    assert [(s.version, s.percent, s.tag) for s in recorded.traffic] == [
        ("3", 90, "champion"), ("4", 10, "candidate"),
    ]  # fmt: skip


def test_a_rejection_sets_no_traffic_but_names_its_evaluation():
    decision = gate(evaluated("4", sample_count=1), state(), policy().model("churn"), NOW)
    assert decision.kind == "rejected" and shares(decision) == ()
    assert decision.judged is not None and decision.judged.sample_count == 1


def test_the_smoke_check_s_rejection_names_the_same_evaluation():
    smoked = policy(canary={"smoke": {"request": {"instances": [[1]]}}})
    decision = gate(evaluated("4"), state(champion="3", previous=None), smoked.model("churn"), NOW)
    assert decision.on_smoke_failure is not None
    assert decision.on_smoke_failure.judged is decision.judged is not None


def test_a_batch_input_lists_its_manifest_s_objects_each_checked():
    body = {"objects": [{"uri": "gs://b/p/a.csv#1", "md5": "x=="}, {"uri": "gs://b/p/b.csv#2"},
                        "junk", {"md5": "no uri"}], "count": 2}  # fmt: skip
    members = lineage.manifest_members(json.dumps(body).encode())
    assert members == [("gs://b/p/a.csv#1", "x=="), ("gs://b/p/b.csv#2", None)]
    for bad in (None, b"not json", b'{"objects": 3}', b"[]"):
        assert lineage.manifest_members(bad) == []
    gone = lineage.input_answer("gs://b/p/b.csv#2", None, None)
    checked = [("gs://b/p/a.csv#1", Answer(True, "ok")), ("gs://b/p/b.csv#2", gone)]
    ev = lineage.evidence("2", LEDGER, [RUN])
    built = lineage.chain("churn", ev, Answer(None, "x"), None, None, checked, unchecked=5)
    objects = [link for link in built.links if link.step == "object"]
    assert [o.holds for o in objects] == [True, False, None]
    assert objects[-1].text == "… and 5 more objects, not checked"
    assert built.problems == (f"object: {gone.detail}",)
