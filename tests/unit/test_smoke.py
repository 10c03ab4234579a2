"""Core: the pre-traffic smoke check — `canary.smoke` parsed with precise errors, and the
promotion that checks the candidate's revision before any traffic, or the rejection instead."""

from __future__ import annotations

import copy

import pytest

from interlock.core import moves, smoke
from interlock.core.effects import DeployRevision, MoveAliases, SetTraffic, SmokeCheck
from interlock.core.policy import PolicyError
from interlock.core.policy_load import load_policy
from interlock.core.state import ModelState
from tests.builders import NOW, POLICY_DOC, policy, state

SAMPLE = {"instances": [[0.1, 0.2]]}


def _problems(section) -> list[str]:
    doc = copy.deepcopy(POLICY_DOC)
    doc["models"][0]["canary"]["smoke"] = section
    with pytest.raises(PolicyError) as err:
        load_policy(doc)
    return err.value.problems


def test_smoke_section_is_read_with_its_defaults_when_only_the_request_is_given():
    parsed = policy(canary={"smoke": {"request": SAMPLE}}).model("churn").canary.smoke
    assert parsed is not None
    assert (parsed.request, parsed.path, parsed.expect_status, parsed.timeout_s) == (
        SAMPLE, "/predict", 200, 30,
    )  # fmt: skip
    assert policy().model("churn").canary.smoke is None


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("yes", "models[0].canary.smoke: expected a mapping with `request`"),
        ({}, "models[0].canary.smoke.request: expected a mapping: the JSON body"),
        ({"request": [1]}, "models[0].canary.smoke.request: expected a mapping"),
        ({"request": {"x": float("nan")}}, "models[0].canary.smoke.request: not JSON-serializable"),
        ({"request": {"x": "y" * 70000}}, "models[0].canary.smoke.request: 70009 bytes as JSON; at most 65536"),
        ({"request": SAMPLE, "path": "predict"}, "models[0].canary.smoke.path: expected a URL path starting with /"),
        ({"request": SAMPLE, "expect_status": 500}, "models[0].canary.smoke.expect_status: expected a 2xx status code, got 500"),
        ({"request": SAMPLE, "expect_status": True}, "models[0].canary.smoke.expect_status: expected a 2xx"),
        ({"request": SAMPLE, "timeout": "soon"}, 'models[0].canary.smoke.timeout: expected a duration from "1s" to "300s"'),
        ({"request": SAMPLE, "timeout": 30}, "models[0].canary.smoke.timeout: 30 has no unit"),
        ({"request": SAMPLE, "timeout": "10m"}, 'models[0].canary.smoke.timeout: expected a duration from "1s"'),
        ({"request": SAMPLE, "expect": 200}, "models[0].canary.smoke.expect: unknown key (expected one of: expect_status, path, request, timeout)"),
    ],
)  # fmt: skip
def test_smoke_section_is_refused_with_its_path_when_invalid(section, expected):
    assert any(p.startswith(expected) for p in _problems(section)), _problems(section)


MP = policy(canary={"smoke": {"request": SAMPLE, "timeout": "5s"}}).model("churn")


def test_start_checks_the_candidate_between_its_deploy_and_any_traffic_when_smoke_is_set():
    decision = moves.start(state(), MP, "4", None, NOW, ("gate passed",))
    kinds = [type(e) for e in decision.effects]
    assert kinds == [DeployRevision, SmokeCheck, SetTraffic, MoveAliases]
    check = decision.effects[1]
    assert isinstance(check, SmokeCheck)
    assert (check.revision, check.tag, check.path, check.timeout_s) == (
        "churn-v4",
        "smoke",
        "/predict",
        5,
    )
    assert decision.kind == "promoted" and decision.on_smoke_failure is not None
    assert (
        check.describe()
        == "smoke check revision churn-v4 at its 'smoke' tag URL (POST /predict, expect 200)"
    )


def test_first_version_is_checked_too_when_nothing_serves_yet():
    decision = moves.start(ModelState(), MP, "1", None, NOW, ())
    assert [type(e) for e in decision.effects][:2] == [DeployRevision, SmokeCheck]


def test_start_has_no_check_and_no_rejection_when_the_policy_has_no_smoke():
    decision = moves.start(state(), policy().model("churn"), "4", None, NOW, ())
    assert not any(isinstance(e, SmokeCheck) for e in decision.effects)
    assert decision.on_smoke_failure is None


def test_failed_smoke_rejects_with_the_answer_and_keeps_the_state_when_the_revision_answers_5xx():
    before = state()
    decision = moves.start(before, MP, "4", None, NOW, ("gate passed",))
    check = decision.effects[1]
    assert isinstance(check, SmokeCheck)
    body = '{"error": {"code": 503, "message": "cannot load its model:\\n\\x1b[31mboom"}}'
    rejected = smoke.failed(decision, check, "https://smoke---churn-x.a.run.app/predict", 503, body)
    assert rejected.kind == "rejected" and rejected.effects == ()
    assert rejected.reasons[0] == "gate passed"
    why = rejected.reasons[1]
    assert why.startswith(
        "smoke check failed: POST https://smoke---churn-x.a.run.app/predict answered 503 (expected 200): "
    )
    assert "cannot load its model" in why and "\x1b" not in why and "\n" not in why
    assert "traffic unchanged" in rejected.reasons[2]
    assert rejected.state == before.replace(rejected_versions=("4",))
    assert rejected.state.candidate == before.candidate


def test_failed_smoke_says_no_answer_when_the_revision_timed_out():
    decision = moves.start(ModelState(), MP, "1", None, NOW, ())
    check = decision.effects[1]
    assert isinstance(check, SmokeCheck)
    rejected = smoke.failed(decision, check, "http://x/predict", None, "")
    assert (
        rejected.reasons[0] == "smoke check failed: POST http://x/predict no answer (expected 200)"
    )
    assert rejected.state is not None and rejected.state.champion is None


def test_led_by_puts_the_wrapping_reasons_first_and_is_none_without_a_smoke_check():
    decision = moves.start(state(), MP, "4", None, NOW, ("gate passed",))
    led = smoke.led_by(decision, ("hold ended",))
    assert led is not None and led.reasons == ("hold ended", "gate passed")
    assert (
        smoke.led_by(moves.start(state(), policy().model("churn"), "4", None, NOW, ()), ("x",))
        is None
    )
