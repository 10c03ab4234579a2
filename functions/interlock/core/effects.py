"""Core layer: the effects a decision asks for. Handlers apply them, in order, through the ports.

Every effect is idempotent by construction (deterministic names, absolute traffic, alias sets), so
re-applying one after a crash or a redelivery converges to the same state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TriggerDag:
    pipeline: str
    dag_id: str
    run_id: str
    conf: Mapping[str, str | int | None]

    def describe(self) -> str:
        return f"trigger DAG {self.dag_id} run {self.run_id}"


@dataclass(frozen=True)
class DeployRevision:
    """Ensure a Cloud Run revision named `revision` serves `version` (holding no traffic yet)."""

    model: str
    version: str
    revision: str

    def describe(self) -> str:
        return f"deploy revision {self.revision} for {self.model} v{self.version}"


@dataclass(frozen=True)
class TrafficSplit:
    revision: str
    percent: int
    tag: str | None = None

    def describe(self) -> str:
        tag = f" [{self.tag}]" if self.tag else ""
        return f"{self.revision}={self.percent}%{tag}"


@dataclass(frozen=True)
class SetTraffic:
    """Set the service's whole traffic block (percents sum to 100)."""

    model: str
    splits: tuple[TrafficSplit, ...]

    def describe(self) -> str:
        return "traffic " + ", ".join(s.describe() for s in self.splits)


@dataclass(frozen=True)
class MoveAliases:
    """Put `add` aliases on `version` (Vertex moves them off any other version) and drop `remove`."""

    model: str
    version: str
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"+{a}" for a in self.add] + [f"-{r}" for r in self.remove]
        return f"aliases v{self.version} " + " ".join(parts)


Effect = TriggerDag | DeployRevision | SetTraffic | MoveAliases
