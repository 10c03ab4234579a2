"""Contract: `FakeModelRegistry` and `VertexModelRegistry` (on the stand-in) behave the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import pytest

from interlock.adapters.vertex import VertexModelRegistry
from interlock.core.errors import PermanentError, TransientError
from interlock.ports import ModelRegistry
from tests.fakes.registry import FakeModelRegistry
from tests.fixtures.standin import StandInServer, unique_id

PARENT = "projects/interlock-test/locations/us-central1"


class RegistryHarness(Protocol):
    registry: ModelRegistry
    parent: str  # projects/PROJECT_ID/locations/L, as a policy names it

    def seed(
        self, model_id: str, artifact_uri: str, labels: Mapping[str, str] | None = None,
        aliases: Sequence[str] = (),
    ) -> tuple[str, str]: ...  # fmt: skip

    def make_unavailable(self, times: int) -> None: ...

    def artifact(self, uri: str) -> str:
        """Where `uri` was stored: itself, except on Google (a conformance bucket)."""
        ...


class FakeHarness:
    def __init__(self) -> None:
        self.fake = FakeModelRegistry()
        self.registry: ModelRegistry = self.fake
        self.parent = PARENT

    def seed(
        self, model_id: str, artifact_uri: str, labels: Mapping[str, str] | None = None,
        aliases: Sequence[str] = (),
    ) -> tuple[str, str]:  # fmt: skip
        version = self.fake.seed_version(
            f"{PARENT}/models/{model_id}", artifact_uri, labels, aliases
        )
        return version.model, version.version

    def make_unavailable(self, times: int) -> None:
        self.fake.fail_next(TransientError("get model: UNAVAILABLE: injected"), times)

    def artifact(self, uri: str) -> str:
        return uri


class VertexHarness:
    def __init__(self, standin: StandInServer) -> None:
        self.standin = standin
        self.parent = standin.parent
        self.registry: ModelRegistry = VertexModelRegistry(
            standin.location, endpoint=standin.endpoint, timeout_s=10
        )

    def seed(
        self, model_id: str, artifact_uri: str, labels: Mapping[str, str] | None = None,
        aliases: Sequence[str] = (),
    ) -> tuple[str, str]:  # fmt: skip
        return self.standin.upload_model_version(model_id, artifact_uri, labels, aliases)

    def make_unavailable(self, times: int) -> None:
        self.standin.set_fault(match="GET /v1/", status=503, count=times)

    def artifact(self, uri: str) -> str:
        return uri


@pytest.fixture(params=["fake", "vertex"])
def harness(request: pytest.FixtureRequest) -> RegistryHarness:
    if request.param == "fake":
        return FakeHarness()
    return VertexHarness(request.getfixturevalue("standin"))


def model_with_versions(harness: RegistryHarness, n: int) -> str:
    model_id = unique_id("churn")
    model = ""
    for i in range(1, n + 1):
        model, _ = harness.seed(model_id, f"gs://models/churn/{i}", labels={"run": f"r{i}"})
    return model


class TestModelRegistry:
    def test_get_version_returns_our_type_when_version_exists(
        self, harness: RegistryHarness
    ) -> None:
        model = model_with_versions(harness, 2)
        version = harness.registry.get_version(model, "2")
        assert (version.model, version.version) == (model, "2")
        assert version.artifact_uri == harness.artifact("gs://models/churn/2")
        assert dict(version.labels) == {"run": "r2"}
        assert version.aliases == ()

    def test_first_version_is_default_when_model_is_new(self, harness: RegistryHarness) -> None:
        model = model_with_versions(harness, 2)
        assert harness.registry.get_version(model, "default").version == "1"

    def test_get_version_resolves_alias_when_alias_given(self, harness: RegistryHarness) -> None:
        model_id = unique_id("churn")
        model, _ = harness.seed(model_id, "gs://models/churn/1")
        harness.seed(model_id, "gs://models/churn/2", aliases=["champion"])
        assert harness.registry.get_version(model, "champion").version == "2"

    def test_list_versions_in_version_order_when_model_has_several(
        self, harness: RegistryHarness
    ) -> None:
        model = model_with_versions(harness, 3)
        versions = harness.registry.list_versions(model)
        assert [v.version for v in versions] == ["1", "2", "3"]
        assert [v.artifact_uri for v in versions] == [
            harness.artifact(f"gs://models/churn/{i}") for i in (1, 2, 3)
        ]

    def test_alias_moves_between_versions_when_added_elsewhere(
        self, harness: RegistryHarness
    ) -> None:
        model = model_with_versions(harness, 3)
        registry = harness.registry
        registry.merge_aliases(model, "2", add=["champion"], remove=[])
        moved = registry.merge_aliases(model, "3", add=["champion", "candidate"], remove=[])
        assert moved.aliases == ("candidate", "champion")
        assert registry.get_version(model, "2").aliases == ()
        assert registry.get_version(model, "champion").version == "3"

    def test_alias_disappears_when_removed(self, harness: RegistryHarness) -> None:
        model = model_with_versions(harness, 2)
        harness.registry.merge_aliases(model, "2", add=["candidate", "previous"], remove=[])
        after = harness.registry.merge_aliases(model, "2", add=[], remove=["candidate"])
        assert after.aliases == ("previous",)
        with pytest.raises(PermanentError):
            harness.registry.get_version(model, "candidate")

    def test_adding_and_removing_cancel_out_when_in_one_request(
        self, harness: RegistryHarness
    ) -> None:
        model = model_with_versions(harness, 2)
        after = harness.registry.merge_aliases(model, "2", add=["x1"], remove=["x1"])
        assert after.aliases == ()

    @pytest.mark.parametrize("alias", ["Champion", "9lives", "a", "bad_alias", "ab-"])
    def test_merge_is_permanent_error_when_alias_invalid(
        self, harness: RegistryHarness, alias: str
    ) -> None:
        model = model_with_versions(harness, 1)
        with pytest.raises(PermanentError) as info:
            harness.registry.merge_aliases(model, "1", add=[alias], remove=[])
        assert info.value.field == "aliases"

    def test_default_alias_moves_when_merged_onto_another_version(
        self, harness: RegistryHarness
    ) -> None:
        model = model_with_versions(harness, 2)
        moved = harness.registry.merge_aliases(model, "2", add=["default"], remove=[])
        assert moved.aliases == ("default",)
        assert harness.registry.get_version(model, "1").aliases == ()
        assert harness.registry.get_version(model, "default").version == "2"

    def test_merge_is_permanent_error_when_removing_the_default_alias(
        self, harness: RegistryHarness
    ) -> None:
        model = model_with_versions(harness, 1)
        with pytest.raises(PermanentError) as info:
            harness.registry.merge_aliases(model, "1", add=[], remove=["default"])
        assert info.value.field == "aliases"

    def test_versions_name_the_model_as_asked_whatever_project_form_comes_back(
        self, harness: RegistryHarness
    ) -> None:
        model_id = unique_id("churn")
        harness.seed(model_id, "gs://models/churn/1")
        asked = f"{harness.parent}/models/{model_id}"  # by project id; Vertex answers by number
        assert harness.registry.get_version(asked, "1").model == asked
        assert [v.model for v in harness.registry.list_versions(asked)] == [asked]
        assert harness.registry.merge_aliases(asked, "1", add=["x1"], remove=[]).model == asked

    def test_permanent_error_when_model_unknown(self, harness: RegistryHarness) -> None:
        missing = f"{PARENT}/models/{unique_id('nope')}"
        with pytest.raises(PermanentError):
            harness.registry.get_version(missing, "1")
        with pytest.raises(PermanentError):
            harness.registry.list_versions(missing)

    def test_permanent_error_when_version_unknown(self, harness: RegistryHarness) -> None:
        model = model_with_versions(harness, 1)
        with pytest.raises(PermanentError):
            harness.registry.get_version(model, "7")

    def test_transient_error_when_service_unavailable(self, harness: RegistryHarness) -> None:
        model = model_with_versions(harness, 1)
        harness.make_unavailable(times=1)
        with pytest.raises(TransientError):
            harness.registry.get_version(model, "1")
        assert harness.registry.get_version(model, "1").version == "1"


def test_vertex_adapter_is_permanent_error_when_model_name_malformed() -> None:
    registry = VertexModelRegistry("us-central1", endpoint="http://127.0.0.1:9")
    with pytest.raises(PermanentError) as info:
        registry.get_version("churn", "1")
    assert info.value.field == "model"


def test_reason_is_one_bounded_line_when_vertex_answers_garbage(standin: StandInServer) -> None:
    model, _ = standin.upload_model_version(unique_id("churn"), "gs://models/churn/1")
    page = "<html><body>\n\x1b[2J" + "upstream exploded " * 20_000 + "</body></html>"
    standin.set_fault(match="GET /v1/", status=503, body=page, count=1)
    registry = VertexModelRegistry(standin.location, endpoint=standin.endpoint, timeout_s=10)
    with pytest.raises(TransientError) as info:
        registry.get_version(model, "1")
    assert "upstream exploded" in info.value.reason
    assert len(info.value.reason) < 600
    assert info.value.reason.isprintable()
