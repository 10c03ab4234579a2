"""Core: the moves on a model's serving state, as a table — state in, traffic and aliases out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interlock.core import moves
from interlock.core.effects import DeployRevision, MoveAliases, SetTraffic
from interlock.core.state import ModelState
from tests.builders import NOW, policy, state

MP = policy().model("churn")


def _traffic(decision) -> dict[str, tuple[int, str | None]]:
    (block,) = [e for e in decision.effects if isinstance(e, SetTraffic)]
    assert block.service == MP.service and sum(s.percent for s in block.splits) == 100
    return {s.revision: (s.percent, s.tag) for s in block.splits}


def _aliases(decision) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    found = [e for e in decision.effects if isinstance(e, MoveAliases)]
    assert all(e.vertex_model == MP.vertex_model for e in found)
    return [(e.version, e.add, e.remove) for e in found]


@pytest.mark.parametrize(
    ("move", "kind", "traffic", "aliases"),
    [
        pytest.param(
            lambda: moves.start(ModelState(), MP, "1", None, NOW, ()),
            "promoted", {"churn-v1": (100, "champion")}, [("1", ("champion",), ("candidate",))],
            id="start-first-version-serves-all",
        ),
        pytest.param(
            lambda: moves.start(state(), MP, "4", None, NOW, ()),
            "promoted",
            {"churn-v3": (90, "champion"), "churn-v4": (10, "candidate"), "churn-v2": (0, "previous")},
            [("4", ("candidate",), ())],
            id="start-canary-first-step",
        ),
        pytest.param(
            lambda: moves.advance(state(candidate="4"), MP, NOW, ()),
            "advanced",
            {"churn-v3": (50, "champion"), "churn-v4": (50, "candidate"), "churn-v2": (0, "previous")},
            [],
            id="advance-to-next-step",
        ),
        pytest.param(
            lambda: moves.advance(state(candidate="4", step=1), MP, NOW, ()),
            "promoted",
            {"churn-v4": (100, "champion"), "churn-v3": (0, "previous")},
            [("4", ("champion",), ("candidate",)), ("3", ("previous",), ())],
            id="advance-past-last-step-completes",
        ),
        pytest.param(
            lambda: moves.abort(state(candidate="4", step=1), MP, NOW, ()),
            "rolled_back",
            {"churn-v3": (100, "champion"), "churn-v2": (0, "previous")},
            [("4", (), ("candidate",))],
            id="abort-canary",
        ),
        pytest.param(
            lambda: moves.rollback(state(), MP, NOW, ()),
            "rolled_back", {"churn-v2": (100, "champion")}, [("2", ("champion",), ("previous",))],
            id="rollback-champion-to-previous",
        ),
    ],
)  # fmt: skip
def test_move_sets_whole_traffic_block_and_aliases_when_applied(move, kind, traffic, aliases):
    decision = move()
    assert decision.kind == kind
    assert _traffic(decision) == traffic
    assert _aliases(decision) == aliases


def test_start_deploys_the_revision_spec_from_the_policy_when_a_version_is_promoted():
    deploy = moves.start(state(), MP, "4", None, NOW, ()).effects[0]
    assert deploy == DeployRevision(
        model="churn", version="4", revision="churn-v4", service=MP.service,
        vertex_model=MP.vertex_model, image=MP.serving.image, env=dict(MP.serving.env),
        port=MP.serving.port, labels={"interlock-model": "churn", "interlock-version": "4"},
    )  # fmt: skip


def test_advance_keeps_the_candidate_and_resets_its_healthy_count_when_moving_a_step():
    before = state(candidate="4", healthy=2)
    after = moves.advance(before, MP, NOW, ()).state
    assert after is not None and after.candidate is not None and before.candidate is not None
    assert after.candidate.step == 1 and after.candidate.healthy_windows == 0
    assert (after.candidate.version, after.candidate.evaluation, after.candidate.since) == (
        before.candidate.version, before.candidate.evaluation, before.candidate.since,
    )  # fmt: skip


def test_rollback_counts_automatic_rollbacks_only_when_not_manual():
    automatic = moves.rollback(state(), MP, NOW, ()).state
    manual = moves.rollback(state(), MP, NOW, (), manual=True).state
    assert automatic is not None and manual is not None
    assert automatic.rollbacks == (NOW,) and manual.rollbacks == ()
    assert automatic.cooldown_until == NOW + timedelta(seconds=MP.guard.cooldown_s)
