"""Handlers on fakes: what applying a decision leaves deployed, asserted as the world's state."""

from __future__ import annotations

import pytest

from interlock.ports import RevisionSpec

from .world import SERVICE, VERTEX, World, evaluation, inbound


def deployed_spec(version: str, artifact_uri: str) -> RevisionSpec:
    """The revision the test policy (tests/builders.py) serves a version as."""
    return RevisionSpec(
        name=f"churn-v{version}",
        image="img:1",
        env={"MODEL_NAME": "churn", "AIP_STORAGE_URI": artifact_uri},
        port=8080,
        labels={"interlock-model": "churn", "interlock-version": version},
    )


@pytest.mark.parametrize(
    "earlier", [(), ("1",)], ids=["first-champion", "canary-beside-a-champion"]
)
def test_deployed_revision_is_the_policy_serving_spec_with_the_version_artifact_when_promoted(
    earlier: tuple[str, ...],
):
    w = World()
    for version in earlier:
        w.handler.handle(inbound(evaluation(version)))
    version = str(len(earlier) + 1)
    assert w.handler.handle(inbound(evaluation(version))).kind == "promoted"
    artifact = w.registry.get_version(VERTEX, version).artifact_uri
    assert artifact == f"gs://models/churn/{version}"  # each seeded version has its own
    deployed = w.router.services[SERVICE].revisions[f"churn-v{version}"]
    assert deployed == deployed_spec(version, artifact)


def test_each_version_keeps_its_own_deployed_revision_when_a_second_one_is_promoted():
    w = World()
    w.handler.handle(inbound(evaluation("1")))
    w.handler.handle(inbound(evaluation("2")))
    revisions = w.router.services[SERVICE].revisions
    assert set(revisions) == {"churn-00001-boot", "churn-v1", "churn-v2"}
    assert revisions["churn-v1"] == deployed_spec("1", "gs://models/churn/1")
    assert revisions["churn-v2"] == deployed_spec("2", "gs://models/churn/2")
