"""A handler wired to in-memory fakes (kept honest by tests/contract) and a settable clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from interlock.core.events import ModelEvaluated, ModelObserved
from interlock.core.inbound import Inbound
from interlock.core.policy import Policy
from interlock.core.policy_load import load_policy
from interlock.handlers import Handler, Topics
from interlock.ports import Ports, RevisionSpec
from interlock.tick import Ticker, standard_chores
from tests.builders import NOW, POLICY_DOC, policy
from tests.fakes.bus import FakeEventBus
from tests.fakes.dags import FakeDagTrigger
from tests.fakes.ledger import FakeLedger
from tests.fakes.metrics import FakeRevisionMetrics
from tests.fakes.probe import FakeProbe
from tests.fakes.registry import FakeModelRegistry
from tests.fakes.storage import FakeObjectStore
from tests.fakes.traffic import FakeTrafficRouter

VERTEX = "projects/p/locations/l/models/churn"
SERVICE = "projects/p/locations/l/services/churn"


@dataclass
class World:
    ledger: FakeLedger = field(default_factory=FakeLedger)
    bus: FakeEventBus = field(default_factory=FakeEventBus)
    dags: FakeDagTrigger = field(default_factory=lambda: FakeDagTrigger({"train_on_arrival"}))
    registry: FakeModelRegistry = field(default_factory=FakeModelRegistry)
    router: FakeTrafficRouter = field(default_factory=FakeTrafficRouter)
    metrics: FakeRevisionMetrics = field(default_factory=FakeRevisionMetrics)
    probe: FakeProbe = field(default_factory=FakeProbe)
    observe: dict[str, Any] | None = None  # the model's `observe:` section, when observed
    storage: FakeObjectStore = field(default_factory=FakeObjectStore)
    now: datetime = NOW
    retry_budget_s: float = 0.0
    pending: dict[str, Any] | None = None  # the policy's `pending:` section, when not the default
    smoke: dict[str, Any] | None = None  # the model's `canary.smoke` section, when checked
    policy: Policy | None = None  # the whole policy, when not the builders' one

    def __post_init__(self) -> None:
        self.storage.clock = lambda: self.now
        for v in range(1, 6):
            self.registry.seed_version(VERTEX, f"gs://models/churn/{v}")
        self.router.seed_service(
            SERVICE, RevisionSpec(name="churn-00001-boot", image="placeholder", env={})
        )
        ports = Ports(
            ledger=lambda: self.ledger,
            bus=lambda: self.bus,
            dags=lambda: self.dags,
            registry=lambda: self.registry,
            router=lambda: self.router,
            metrics=lambda: self.metrics,
            probe=lambda: self.probe,
            storage=lambda: self.storage,
        )
        chosen = policy(observe=self.observe) if self.observe else policy()
        if self.smoke is not None:
            chosen = policy(canary={"smoke": self.smoke})
        self.handler = Handler(
            self.policy
            or (load_policy({**POLICY_DOC, "pending": self.pending}) if self.pending else chosen),
            ports,
            Topics("decisions", "dead-letter"),
            lambda: self.now,
            lease_wait_s=0.2,
            retry_budget_s=self.retry_budget_s,
        )
        self.ticker = Ticker(self.handler, item_budget_s=0.0, chores=standard_chores())

    def traffic(self) -> dict[str, int]:
        return {s.revision: s.percent for s in self.router.get_traffic(SERVICE) if s.percent}

    def aliases(self) -> dict[str, str]:
        return {a: v.version for v in self.registry.list_versions(VERTEX) for a in v.aliases}


def inbound(payload, ce_id: str = "e1") -> Inbound:
    return Inbound(id=ce_id, type="t", source="test", time=None, payload=payload)


def evaluation(version: str, auc: float = 0.9, when: datetime = NOW) -> ModelEvaluated:
    return ModelEvaluated(
        model="churn", version=version, dataset_id="ds1", sample_count=1000,
        metrics={"auc": auc, "latency_ms": 50.0}, evaluated_at=when - timedelta(minutes=1), run_id=f"run-{version}",
    )  # fmt: skip


def window(
    version: str, minute: int, error_rate: float = 0.01, when: datetime = NOW
) -> ModelObserved:
    end = when - timedelta(minutes=30) + timedelta(minutes=minute)
    return ModelObserved(
        model="churn", revision=f"churn-v{version}", version=version, window_start=end - timedelta(minutes=1),
        window_end=end, sample_count=100, metrics={"error_rate": error_rate, "accuracy": 0.9},
    )  # fmt: skip
