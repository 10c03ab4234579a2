"""Policy loading: every problem reported with its path, never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from interlock.core.errors import PermanentError
from interlock.core.policy import PolicyError, Rule
from interlock.core.policy_load import load_policy, parse_duration, parse_rule
from tests.builders import POLICY_DOC

REPO = Path(__file__).resolve().parents[2]


def problems(mutate) -> list[str]:
    doc = copy.deepcopy(POLICY_DOC)
    mutate(doc)
    with pytest.raises(PolicyError) as err:
        load_policy(doc)
    return err.value.problems


def model(doc):
    return doc["models"][0]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: model(d)["gate"]["metrics"].update(auc="big"), 'models[0].gate.metrics.auc: expected ">= 0.8" or ">= champion - 0.01" style comparison, got \'big\''),
        (lambda d: model(d)["gate"]["metrics"].update(auc=[">= 0.8", "<= 0.9"]), "models[0].gate.metrics.auc: mixes >= and <="),
        (lambda d: model(d)["guard"]["thresholds"].update(accuracy=">= champion - 0.1"), "models[0].guard.thresholds.accuracy: live thresholds cannot be relative"),
        (lambda d: model(d)["guard"].update(breaches=5, of_windows=3), "models[0].guard.breaches: cannot exceed of_windows (5 > 3)"),
        (lambda d: model(d)["guard"].update(cooldown="soon"), 'models[0].guard.cooldown: expected a duration like "30s"'),
        (lambda d: model(d)["guard"].update(on_inconclusive="panic"), 'models[0].guard.on_inconclusive: expected "hold" or "rollback"'),
        (lambda d: model(d)["canary"].update(steps=[50, 10, 100]), "models[0].canary.steps: expected strictly increasing percents ending at 100"),
        (lambda d: model(d)["canary"].update(steps=[10, 50]), "models[0].canary.steps"),
        (lambda d: model(d)["canary"].update(hold_windows=0), "models[0].canary.hold_windows: must be between 1 and 1000, got 0"),
        (lambda d: model(d)["canary"].update(hold_windows="two"), "models[0].canary.hold_windows: expected a whole number"),
        (lambda d: model(d).update(service="churn"), "models[0].service: 'churn' is not projects/PROJECT"),
        (lambda d: model(d).update(vertex_model=None), "models[0].vertex_model: required"),
        (lambda d: model(d).update(gaet={}), "models[0].gaet: unknown key"),
        (lambda d: model(d)["serving"].update(env={"lower": "x"}), "models[0].serving.env.lower: environment variable names are UPPER_SNAKE_CASE"),
        (lambda d: model(d)["serving"].update(env={"AIP_STORAGE_URI": "x"}), "set by interlock"),
        (lambda d: model(d)["serving"].update(env={"X": ["a"]}), "models[0].serving.env.X: expected a string"),
        (lambda d: model(d)["gate"].update(same_dataset="yes"), "models[0].gate.same_dataset: expected true or false"),
        (lambda d: model(d)["gate"].update(metrics={}), "models[0].gate.metrics: name at least one metric"),
        (lambda d: model(d)["gate"]["metrics"].update({"bad name": ">= 1"}), "metric name must match"),
        (lambda d: model(d)["guard"].update(thresholds=None), "models[0].guard.thresholds: name at least one"),
        (lambda d: d["pipelines"][0]["conf"].update(x="{secret}"), "pipelines[0].conf.x: unknown placeholder {secret}"),
        (lambda d: d["pipelines"][0]["conf"].update(x=["list"]), "pipelines[0].conf.x: expected a string"),
        (lambda d: d["pipelines"][0].update(bucket="Bad_Bucket"), "pipelines[0].bucket"),
        (lambda d: d["pipelines"].append(copy.deepcopy(d["pipelines"][0])), "pipelines[1].name: duplicate name 'churn-training'"),
        (lambda d: d.update(models={"a": 1}), "models: expected a list, got a mapping"),
        (lambda d: d.update(version=2), "version: unsupported policy version 2"),
        (lambda d: d.update(max_event_age={"data": "1h"}), "max_event_age.data: unknown key"),
        (lambda d: model(d).update(gate=[1]), "models[0].gate: expected a mapping, got a list"),
        (lambda d: model(d).update(name=None), "models[0].name: required"),
        (lambda d: model(d).update(name=7), "models[0].name: expected a string"),
    ],
)  # fmt: skip
def test_policy_reports_problem_with_path_when_input_is_invalid(mutate, expected):
    found = problems(mutate)
    assert any(expected in p for p in found), found


def test_policy_reports_every_problem_at_once_when_several_are_wrong():
    def many(d):
        model(d)["gate"]["metrics"]["auc"] = "big"
        model(d)["guard"]["cooldown"] = "soon"
        d["pipelines"][0]["dag_id"] = "bad id!"

    assert len(problems(many)) == 3


def test_policy_error_is_a_permanent_error_with_all_problems_in_its_message():
    with pytest.raises(PermanentError) as err:
        load_policy("not a mapping")
    assert "policy: expected a mapping" in str(err.value)


def test_policy_example_in_the_repo_loads_when_checked():
    pol = load_policy(yaml.safe_load((REPO / "interlock.yaml").read_text()))
    assert pol.model("churn").canary.steps == (10, 50, 100)
    assert {p.bucket for p in pol.pipelines} == {"interlock-landing"}


def test_policy_refuses_unknown_model_and_pipeline_by_name():
    pol = load_policy(POLICY_DOC)
    with pytest.raises(PermanentError, match="unknown model 'x'"):
        pol.model("x")
    with pytest.raises(PermanentError, match="unknown pipeline 'y'"):
        pol.pipeline("y")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (">= 0.85", Rule("m", ">=", 0.85)),
        ("<=120", Rule("m", "<=", 120.0)),
        (">= champion", Rule("m", ">=", 0.0, relative=True)),
        (">= champion - 0.005", Rule("m", ">=", -0.005, relative=True)),
        ("<= champion + 10", Rule("m", "<=", 10.0, relative=True)),
        ("> 1", None),
        (">= inf", None),
        (">= 1e999", None),
        (">= 1.2.3", None),
        (5, None),
    ],
)
def test_rule_parses_when_text_is_a_comparison(text, rule):
    assert parse_rule("m", text) == rule


def test_rule_describes_itself_the_way_it_is_written():
    assert Rule("auc", ">=", -0.005, relative=True).describe() == "auc >= champion - 0.005"
    assert Rule("lat", "<=", 10, relative=True).describe() == "lat <= champion + 10"
    assert Rule("auc", ">=", 0, relative=True).describe() == "auc >= champion"
    assert Rule("auc", ">=", 0.8).describe() == "auc >= 0.8"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90),
        ("90s", 90),
        ("15m", 900),
        ("1h", 3600),
        ("2d", 172800),
        ("7", 7),
        (-1, None),
        ("1w", None),
        (True, None),
        (1.5, None),
    ],
)
def test_duration_parses_when_written_with_a_unit(value, seconds):
    assert parse_duration(value) == seconds


def test_revision_name_stays_within_cloud_run_limits_when_service_id_is_the_longest_allowed():
    doc = copy.deepcopy(POLICY_DOC)
    model(doc)["service"] = "projects/p/locations/l/services/s" + "x" * 36
    name = load_policy(doc).model("churn").revision_name("1" * 18)
    assert len(name) <= 63 and name.endswith("-v" + "1" * 18)
    assert load_policy(POLICY_DOC).model("churn").revision_name("3") == "churn-v3"


def test_policy_refuses_a_service_id_that_leaves_no_room_for_the_traffic_tags():
    doc = copy.deepcopy(POLICY_DOC)
    model(doc)["service"] = "projects/p/locations/l/services/s" + "x" * 48
    with pytest.raises(PolicyError) as caught:
        load_policy(doc)
    assert any(item.startswith("models[0].service: ") for item in caught.value.problems)
