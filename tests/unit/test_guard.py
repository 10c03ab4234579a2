"""Guard: (observation, state, policy) → decision, as tables and as window sequences."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from interlock.core.effects import MoveAliases, SetTraffic, TrafficSplit
from interlock.core.errors import PermanentError
from interlock.core.guard import guard
from interlock.core.state import ModelState
from tests.builders import NOW, observed, policy, state, windows

GOOD = {"error_rate": 0.01, "accuracy": 0.9}
BAD = {"error_rate": 0.2, "accuracy": 0.9}

CASES = [
    # id, observation, state, policy overrides, kind, reason fragments
    ("healthy-champion-holds", observed(), state(), {}, "held", ["healthy"]),
    ("unknown-revision-stale", observed("churn-v9"), state(), {}, "stale", ["churn-v9 holds no traffic"]),
    ("version-mismatch-stale", observed("churn-v3", version="4"), state(), {}, "stale", ["serves v3, the event says v4"]),
    ("old-window-stale", observed(minute=0), state(windows=windows("churn-v3", *["healthy"] * 40)), {}, "stale", ["is not after the last seen"]),
    ("single-breach-holds", observed(error_rate=0.2), state(), {}, "held", ["error_rate = 0.2, required <= 0.05", "breaches (1) in the last 1 window(s) < breaches (3)"]),
    ("third-breach-rolls-back", observed(error_rate=0.2), state(windows=windows("churn-v3", "breach", "breach")), {}, "rolled_back", [">= breaches (3) of 4", "v2 serves 100 % again"]),
    ("both-directions-checked", observed(accuracy=0.7), state(windows=windows("churn-v3", "breach", "breach")), {}, "rolled_back", ["accuracy = 0.7, required >= 0.8"]),
    ("too-few-samples-inconclusive", observed(samples=5), state(), {}, "inconclusive", ["sample_count 5 < min_samples 10", "inconclusive (1) <= inconclusive_limit (2)"]),
    ("missing-metric-inconclusive", observed(accuracy=None), state(), {}, "inconclusive", ["metric accuracy missing"]),
    ("nan-metric-inconclusive", observed(accuracy=float("nan")), state(), {}, "inconclusive", ["metric accuracy missing or not finite"]),
    ("inconclusive-over-limit-needs-human", observed(samples=0), state(inconclusive_streak=2), {}, "needs_human", ["inconclusive (3) > inconclusive_limit (2)"]),
    ("inconclusive-over-limit-rolls-back-if-policy-says", observed(samples=0), state(inconclusive_streak=2), {"guard": {"on_inconclusive": "rollback"}}, "rolled_back", ["inconclusive (3) > inconclusive_limit (2)"]),
    ("no-previous-needs-human", observed(error_rate=0.2), state(previous=None, windows=windows("churn-v3", "breach", "breach")), {}, "needs_human", ["no previous version"]),
    ("after-guard-window-needs-human", observed(error_rate=0.2), state(guard_until=NOW - timedelta(minutes=1), windows=windows("churn-v3", "breach", "breach")), {}, "needs_human", ["guard window ended"]),
    ("cooldown-holds", observed(error_rate=0.2), state(cooldown_until=NOW + timedelta(minutes=5), windows=windows("churn-v3", "breach", "breach")), {}, "held", ["in cooldown until"]),
    ("cap-pauses-automation", observed(error_rate=0.2), state(rollbacks=(NOW - timedelta(hours=3), NOW - timedelta(hours=1)), windows=windows("churn-v3", "breach", "breach")), {}, "needs_human", ["automatic rollbacks (2) reached max_rollbacks (2)", "automation paused"]),
    ("cap-period-expired-allows", observed(error_rate=0.2), state(rollbacks=(NOW - timedelta(hours=30), NOW - timedelta(hours=25)), windows=windows("churn-v3", "breach", "breach")), {}, "rolled_back", []),
    ("paused-records-but-holds", observed(error_rate=0.2), state(paused=True, paused_reason="cap", windows=windows("churn-v3", "breach", "breach")), {}, "held", ["automation paused (cap); window breach"]),
    ("candidate-healthy-counts", observed("churn-v4"), state(candidate="4"), {}, "held", ["healthy windows at 10 %: 1 of 2"]),
    ("candidate-second-healthy-advances", observed("churn-v4"), state(candidate="4", healthy=1), {}, "advanced", ["advance v4 to 50 %"]),
    ("candidate-last-step-completes", observed("churn-v4"), state(candidate="4", step=1, healthy=1), {}, "promoted", ["canary complete", "v4 is champion"]),
    ("candidate-small-window-not-counted", observed("churn-v4", samples=10), state(candidate="4"), {"canary": {"min_samples": 50}}, "held", ["not counted"]),
    ("candidate-breach-aborts", observed("churn-v4", error_rate=0.3), state(candidate="4", windows=windows("churn-v4", "breach", "breach")), {}, "rolled_back", ["canary of v4 aborted"]),
    ("candidate-abort-ignores-cooldown", observed("churn-v4", error_rate=0.3), state(candidate="4", cooldown_until=NOW + timedelta(hours=1), windows=windows("churn-v4", "breach", "breach")), {}, "rolled_back", []),
    ("breach-resets-healthy-count", observed("churn-v4", error_rate=0.3), state(candidate="4", healthy=1), {}, "held", ["< breaches (3)"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("obs", "st", "overrides", "kind", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_guard_decides_when_table_row(obs, st, overrides, kind, expected):
    decision = guard(obs, st, policy(**overrides).model("churn"), NOW)
    assert decision.kind == kind, decision.reasons
    text = "\n".join(decision.reasons)
    for fragment in expected:
        assert fragment in text


SERVICE = "projects/p/locations/l/services/churn"
VERTEX_MODEL = "projects/p/locations/l/models/churn"


def run(sequence: list[dict[str, float]], st: ModelState, revision: str = "churn-v3") -> list[str]:
    """Feed windows one after another through the guard, carrying the state like the ledger does."""
    mp = policy().model("churn")
    kinds = []
    for minute, metrics in enumerate(sequence):
        obs = observed(revision, minute=minute, **metrics)
        decision = guard(obs, st, mp, NOW)
        kinds.append(decision.kind)
        st = decision.state if decision.state is not None else st
    return kinds


def test_guard_never_rolls_back_when_metrics_flap():
    assert "rolled_back" not in run([GOOD, BAD] * 6, state())
    assert "rolled_back" not in run([BAD, BAD, GOOD, GOOD] * 3, state())


def test_guard_rolls_back_exactly_once_when_breach_is_sustained():
    kinds = run([BAD] * 8, state())
    assert kinds[:3] == ["held", "held", "rolled_back"]
    # After the rollback the old revision no longer serves: its windows are stale.
    assert set(kinds[3:]) == {"stale"}


def test_guard_rollback_moves_traffic_and_alias_back_when_champion_breaches():
    decision = guard(
        observed(error_rate=0.2),
        state(windows=windows("churn-v3", "breach", "breach")),
        policy().model("churn"),
        NOW,
    )
    traffic, alias = decision.effects
    assert traffic == SetTraffic("churn", SERVICE, (TrafficSplit("churn-v2", 100, "champion"),))
    assert alias == MoveAliases("churn", VERTEX_MODEL, "2", add=("champion",), remove=("previous",))
    nxt = decision.state
    assert nxt is not None and nxt.champion is not None
    assert nxt.champion.version == "2" and nxt.previous is None
    assert nxt.rejected_versions[-1] == "3"
    assert nxt.rollbacks[-1] == NOW
    assert nxt.cooldown_until == NOW + timedelta(minutes=30)


def test_guard_abort_returns_all_traffic_to_champion_when_candidate_fails():
    st = state(candidate="4", step=1, windows=windows("churn-v4", "breach", "breach"))
    decision = guard(observed("churn-v4", error_rate=0.3), st, policy().model("churn"), NOW)
    traffic, alias = decision.effects
    assert traffic == SetTraffic(
        "churn",
        SERVICE,
        (TrafficSplit("churn-v3", 100, "champion"), TrafficSplit("churn-v2", 0, "previous")),
    )
    assert alias == MoveAliases("churn", VERTEX_MODEL, "4", remove=("candidate",))
    assert decision.state is not None and decision.state.candidate is None
    assert "4" in decision.state.rejected_versions
    assert (
        decision.state.rollbacks == st.rollbacks
    )  # aborting a canary is not a rollback of the champion


def test_guard_completion_keeps_old_champion_warm_as_previous_when_canary_ends():
    decision = guard(
        observed("churn-v4"), state(candidate="4", step=1, healthy=1), policy().model("churn"), NOW
    )
    traffic = decision.effects[0]
    assert traffic == SetTraffic(
        "churn",
        SERVICE,
        (TrafficSplit("churn-v4", 100, "champion"), TrafficSplit("churn-v3", 0, "previous")),
    )
    assert (
        MoveAliases("churn", VERTEX_MODEL, "4", add=("champion",), remove=("candidate",))
        in decision.effects
    )
    assert MoveAliases("churn", VERTEX_MODEL, "3", add=("previous",)) in decision.effects
    nxt = decision.state
    assert nxt is not None and nxt.champion is not None and nxt.previous is not None
    assert (nxt.champion.version, nxt.previous.version) == ("4", "3")
    assert nxt.guard_until == NOW + timedelta(hours=1)


def test_guard_stops_at_the_cap_and_asks_for_a_human_when_breaches_repeat():
    mp = policy(guard={"breaches": 1, "of_windows": 1, "cooldown": "0s"}).model("churn")
    st = state(champion="5", previous="4")
    outcomes = []
    for version in ("5", "4"):
        decision = guard(observed(f"churn-v{version}", error_rate=0.5), st, mp, NOW)
        outcomes.append(decision.kind)
        assert decision.state is not None
        # Someone re-promoted by hand between breaches: give the model a previous again.
        st = decision.state.replace(
            previous=state(champion="3").champion, guard_until=NOW + timedelta(hours=1)
        )
    third = guard(observed(f"churn-v{st.champion.version}", error_rate=0.5), st, mp, NOW)
    assert outcomes == ["rolled_back", "rolled_back"]
    assert third.kind == "needs_human" and third.effects == ()
    assert third.state is not None and third.state.paused


def test_guard_rejects_window_when_end_is_not_after_start():
    obs = observed()
    bad = dataclasses.replace(obs, window_start=obs.window_end)
    with pytest.raises(PermanentError) as err:
        guard(bad, state(), policy().model("churn"), NOW)
    assert err.value.field == "window_end"


def test_guard_keeps_only_the_last_m_windows_when_history_grows():
    st = state()
    mp = policy().model("churn")
    for minute in range(10):
        decision = guard(observed(minute=minute), st, mp, NOW)
        st = decision.state or st
    assert len(st.windows["churn-v3"]) == 4


def test_observed_window_is_judged_only_on_the_metrics_it_measures_when_observed():
    from interlock.core.guard import assess
    from tests.builders import observed as obs_of
    from tests.builders import policy as policy_of

    mp = policy_of(observe={"window": "1m"}).models[0]
    verdict, why = assess(obs_of(accuracy=None), mp)
    assert verdict == "healthy" and why == ["healthy: error_rate = 0.01 (<= 0.05)"]
    verdict, why = assess(obs_of(error_rate=None, accuracy=None), mp)
    assert verdict == "inconclusive"  # no metric at all, though it had traffic
    assert why == ["the window measures none of the guard's metrics (accuracy, error_rate)"]


def test_a_window_without_traffic_is_inconclusive():
    from interlock.core.guard import assess
    from tests.builders import observed as obs_of
    from tests.builders import policy as policy_of

    verdict, why = assess(
        obs_of(samples=0, error_rate=None, accuracy=None),
        policy_of(guard={"min_samples": 0}).models[0],
    )
    assert (verdict, why) == ("inconclusive", ["no traffic in the window"])
