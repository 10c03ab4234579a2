"""The observer on real wires: predictions served by the stand-in's Cloud Run, read back through
Cloud Monitoring's timeSeries.list by the real adapter, decided by the guard; nobody publishes a
window. Errors injected into the canary's serving roll it back; healthy traffic advances it.

Cloud Run (traffic) and Cloud Monitoring (metrics) are the stand-in, behind the real adapters;
the ledger, bus and registry are the fakes tests/contract keeps honest. Windows are 1 s long.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlock.adapters.cloudrun import CloudRunTrafficRouter
from interlock.adapters.monitoring import CloudMonitoringMetrics
from interlock.core.policy_load import load_policy
from interlock.handlers import Handler, Topics
from interlock.ports import Ports
from interlock.tick import Ticker, standard_chores
from interlock_dev.traffic import Traffic
from tests.builders import POLICY_DOC
from tests.contract.test_predictions import write_model
from tests.fakes.bus import FakeEventBus
from tests.fakes.dags import FakeDagTrigger
from tests.fakes.ledger import FakeLedger
from tests.fakes.registry import FakeModelRegistry
from tests.fixtures.standin import StandInServer, unique_id
from tests.handlers.world import evaluation, inbound

IMAGE = "us-docker.pkg.dev/cloudrun/container/hello:latest"
TIMEOUT_S = 30.0


class Rig:
    def __init__(self, standin: StandInServer, tmp_path: Path) -> None:
        self.standin = standin
        service_id = unique_id("obs")
        self.service = f"{standin.parent}/services/{service_id}"
        vertex = f"{standin.parent}/models/{service_id}"
        doc = copy.deepcopy(POLICY_DOC)
        model = doc["models"][0]
        model.update(vertex_model=vertex, service=self.service)
        model["serving"]["image"] = IMAGE
        model["observe"] = {"window": "1s", "delay": "1s"}
        model["canary"]["min_samples"] = 3
        model["guard"]["min_samples"] = 3
        self.policy = load_policy(doc)
        self.mp = self.policy.models[0]
        self.registry = FakeModelRegistry()
        for v in ("1", "2"):
            self.registry.seed_version(vertex, write_model(tmp_path / f"v{v}", [1.0, -1.0], 0.0))
        boot = write_model(tmp_path / "boot", [0.5, 0.5], 0.0)
        standin.create_service(service_id, f"{service_id}-boot", IMAGE, {"AIP_STORAGE_URI": boot})
        self.ledger = FakeLedger()
        ports = Ports(
            ledger=lambda: self.ledger,
            bus=FakeEventBus,
            dags=lambda: FakeDagTrigger(set()),
            registry=lambda: self.registry,
            router=lambda: CloudRunTrafficRouter(
                standin.location,
                endpoint=standin.endpoint,
                timeout_s=10,
                poll_initial_s=0.05,
                poll_max_s=0.2,
            ),
            metrics=lambda: CloudMonitoringMetrics(endpoint=standin.endpoint, timeout_s=10),
        )
        self.handler = Handler(
            self.policy, ports, Topics("decisions", "dead-letter"), lambda: datetime.now(UTC)
        )
        self.ticker = Ticker(self.handler, item_budget_s=0.0, chores=standard_chores())
        self.traffic = Traffic(f"{standin.endpoint}/run/{service_id}", rate_per_s=80, width=2)

    def canary(self) -> None:
        for v in ("1", "2"):
            event = evaluation(v, when=datetime.now(UTC))
            kind = self.handler.handle(inbound(event, f"e{v}")).kind
            assert kind == "promoted", kind

    def tick_until(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not done():
            assert time.monotonic() < deadline, [o.reasons for o in self.ledger.outcomes()]
            self.ticker.tick()
            time.sleep(0.3)

    def observed(self, kind: str) -> bool:
        return any(
            o.kind == kind and o.event_id.startswith("observe:") for o in self.ledger.outcomes()
        )


@pytest.fixture
def rig(standin: StandInServer, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(standin, tmp_path)
    r.traffic.start()
    try:
        yield r
    finally:
        r.traffic.stop()


@pytest.mark.slow
def test_healthy_traffic_advances_the_canary_then_injected_errors_roll_it_back(rig: Rig) -> None:
    rig.canary()
    rig.tick_until(lambda: rig.observed("advanced"))
    state = rig.ledger.load("churn").state
    assert state.candidate is not None and state.candidate.step == 1  # 50 %

    candidate = rig.mp.revision_name("2")
    rig.standin.set_fault(revision=candidate, error_rate=0.2)
    rig.tick_until(lambda: rig.observed("rolled_back"))
    state = rig.ledger.load("churn").state
    assert state.candidate is None and "2" in state.rejected_versions
    (decisive,) = [o for o in rig.ledger.outcomes() if o.kind == "rolled_back"]
    assert decisive.event_id.startswith(f"observe:{candidate}:")
    assert any(r.startswith("error_rate = 0.") for r in decisive.reasons), decisive.reasons
    served = rig.standin.state()["services"][rig.service]["trafficStatuses"]
    assert [(s["revision"], s["percent"]) for s in served if s["percent"]] == [
        (rig.mp.revision_name("1"), 100)
    ]
    assert rig.traffic.served[f"{candidate} 500"] > 0  # real requests answered with errors
    decided = [o.event_id for o in rig.ledger.outcomes() if o.event_id.startswith("observe:")]
    assert len(decided) == len(set(decided))  # each window decided once, ticks notwithstanding
