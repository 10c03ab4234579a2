"""The pre-traffic smoke check on real wires: the Cloud Run adapter tags the candidate's revision
at 0 % on the stand-in, the HTTP probe POSTs the policy's sample request to the tag URL Cloud Run
returned, and the stand-in's prediction server answers it from the revision's own artifact.
A candidate whose artifact cannot be loaded answers 503 there and is rejected, traffic unchanged;
a good one gets its first canary step. Ledger, bus and registry are the fakes tests/contract keeps
honest."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

from interlock.adapters.cloudrun import CloudRunTrafficRouter
from interlock.adapters.probe import HttpProbe
from interlock.core.policy_load import load_policy
from interlock.handlers import Handler, Topics
from interlock.ports import Ports
from tests.builders import POLICY_DOC
from tests.contract.test_predictions import write_model
from tests.fakes.bus import FakeEventBus
from tests.fakes.dags import FakeDagTrigger
from tests.fakes.ledger import FakeLedger
from tests.fakes.registry import FakeModelRegistry
from tests.fixtures.standin import StandInServer, unique_id
from tests.handlers.world import evaluation, inbound

IMAGE = "us-docker.pkg.dev/cloudrun/container/hello:latest"


def test_candidate_is_rejected_before_traffic_when_its_revision_answers_5xx_at_its_tag_url(
    standin: StandInServer, tmp_path: Path
) -> None:
    service_id = unique_id("smk")
    service = f"{standin.parent}/services/{service_id}"
    vertex = f"{standin.parent}/models/{service_id}"
    doc = copy.deepcopy(POLICY_DOC)
    model = doc["models"][0]
    model.update(vertex_model=vertex, service=service)
    model["serving"]["image"] = IMAGE
    model["canary"]["smoke"] = {"request": {"instances": [[1.0, 2.0]]}, "timeout": "10s"}
    registry = FakeModelRegistry()
    registry.seed_version(vertex, write_model(tmp_path / "v1", [1.0, -1.0], 0.0))
    broken = tmp_path / "v2"
    broken.mkdir()
    (broken / "model.json").write_text('{"format": "pickle"}')
    registry.seed_version(vertex, broken.as_uri())
    registry.seed_version(vertex, write_model(tmp_path / "v3", [0.5, -1.0], 0.1))
    boot = write_model(tmp_path / "boot", [0.5, 0.5], 0.0)
    standin.create_service(service_id, f"{service_id}-boot", IMAGE, {"AIP_STORAGE_URI": boot})
    router = CloudRunTrafficRouter(
        standin.location, endpoint=standin.endpoint, timeout_s=10, poll_initial_s=0.05,
        poll_max_s=0.2,
    )  # fmt: skip
    ledger = FakeLedger()
    ports = Ports(
        ledger=lambda: ledger, bus=FakeEventBus, dags=lambda: FakeDagTrigger(set()),
        registry=lambda: registry, router=lambda: router, probe=HttpProbe,
    )  # fmt: skip
    handler = Handler(
        load_policy(doc), ports, Topics("decisions", "dead-letter"), lambda: datetime.now(UTC)
    )

    def handle(version: str) -> tuple[str, tuple[str, ...]]:
        done = handler.handle(inbound(evaluation(version, when=datetime.now(UTC)), f"e{version}"))
        return done.kind, done.reasons

    def served() -> list[tuple[str, int, str | None]]:
        return [(s.revision, s.percent, s.tag) for s in router.get_traffic(service)]

    assert handle("1")[0] == "promoted"
    assert served() == [(f"{service_id}-v1", 100, "champion")]

    kind, reasons = handle("2")
    assert kind == "rejected", reasons
    (why,) = [r for r in reasons if r.startswith("smoke check failed")]
    assert f"/run/smoke---{service_id}/predict answered 503 (expected 200)" in why
    assert f"revision {service_id}-v2 cannot load its model" in why
    assert served() == [(f"{service_id}-v1", 100, "champion"), (f"{service_id}-v2", 0, "smoke")]
    assert ledger.load("churn").state.rejected_versions == ("2",)

    kind, reasons = handle("3")
    assert kind == "promoted", reasons
    assert served() == [(f"{service_id}-v1", 90, "champion"), (f"{service_id}-v3", 10, "candidate")]
