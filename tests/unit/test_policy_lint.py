"""Policy checks beyond shape: what parses but would hurt, refused with its path, in words."""

from __future__ import annotations

import copy

import pytest

from interlock.core.policy import PolicyError
from interlock.core.policy_lint import shown, warnings
from interlock.core.policy_load import load_policy
from tests.builders import POLICY_DOC


def problems(mutate) -> list[str]:
    doc = copy.deepcopy(POLICY_DOC)
    mutate(doc)
    with pytest.raises(PolicyError) as err:
        load_policy(doc)
    return err.value.problems


def pipe(doc):
    return doc["pipelines"][0]


def model(doc):
    return doc["models"][0]


def second_model(doc):
    other = copy.deepcopy(model(doc))
    other["name"] = "fraud"
    doc["models"].append(other)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: (d.pop("pipelines"), d.pop("models")), "policy: names no pipelines and no models"),
        (lambda d: model(d)["guard"].update(cooldown=90), 'models[0].guard.cooldown: 90 has no unit'),
        (lambda d: pipe(d).update(debounce=30), "pipelines[0].debounce: 30 has no unit"),
        (lambda d: d.update(pending={"retry_first": 5}), "pending.retry_first: 5 has no unit"),
        (lambda d: d["max_event_age"].update(request=60), "max_event_age.request: 60 has no unit"),
        (lambda d: d["max_event_age"].update(request="0s"), "max_event_age.request: 0s makes every"),
        (lambda d: pipe(d).update(prefix="/churn/"), "pipelines[0].prefix: Cloud Storage names never start with '/': write 'churn/'"),
        (lambda d: pipe(d).update(glob="churn/*.csv"), "pipelines[0].glob: matches the name after the prefix, so 'churn/*.csv' can never match: write '*.csv'"),
        (lambda d: pipe(d)["conf"].update(model="chrun"), "pipelines[0].conf.model: 'chrun' is no model of this policy (models: churn)"),
        (second_model, "models[1].service: models[0] is already served by projects/p/locations/l/services/churn"),
        (lambda d: model(d)["guard"].update(guard_window="0s"), "models[0].guard.guard_window: 0s: the guard would never act"),
        (lambda d: model(d)["guard"]["thresholds"].update(accuracy=">= 75"), "models[0].guard.thresholds.accuracy: accuracy is a fraction from 0 to 1, so >= 75 can never pass (did you mean 0.75?)"),
        (lambda d: model(d)["guard"]["thresholds"].update(error_rate="<= 5"), "so <= 5 always passes"),
        (lambda d: d.update(version="1"), 'version: write 1, a number, not the string \'1\''),
        (lambda d: pipe(d).update(bucket="gs://landing"), "pipelines[0].bucket: 'gs://landing' is not a bucket name alone, without gs://"),
        (lambda d: pipe(d).update(dag_id="train on arrival"), "pipelines[0].dag_id: 'train on arrival' is not letters, digits"),
        (lambda d: d.update(pipelines=[copy.deepcopy(pipe(d)) for _ in range(1001)]), "policy: more than 1000 pipelines and models"),
    ],
)  # fmt: skip
def test_policy_is_refused_with_a_reason_in_words_when_it_would_hurt(mutate, expected):
    found = problems(mutate)
    assert any(expected in p for p in found), found
    assert not any("does not match ^" in p for p in found if expected.split(":")[0] in p)


def test_policy_x_keys_hold_shared_anchors_when_at_the_top():
    doc = copy.deepcopy(POLICY_DOC)
    doc["x-defaults"] = {"cooldown": "30m"}
    assert load_policy(doc).models[0].name == "churn"


def test_messages_stay_short_when_values_are_huge():
    bomb: list = ["x" * 1000]
    for _ in range(7):
        bomb = [bomb] * 10
    found = problems(lambda d: model(d)["gate"]["metrics"].update(auc=bomb))
    assert all(len(p) < 600 for p in found)
    assert len(shown("y" * 10_000)) < 100


def test_warnings_name_the_known_metrics_when_no_producer_emits_one():
    doc = copy.deepcopy(POLICY_DOC)
    model(doc)["gate"]["metrics"] = {"acuracy": ">= 0.8", "auc": ">= 0.8"}
    found = warnings(load_policy(doc))
    assert found[0] == (
        "models[0].gate.metrics.acuracy: no producer here emits 'acuracy' "
        "(known: accuracy, auc, latency_p95_ms)"
    )
    assert not any(".auc:" in w for w in found)
