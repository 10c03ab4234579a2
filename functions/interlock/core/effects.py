"""Core layer: the effects a decision asks for, applied in order through the ports (`apply.py`).

Each effect carries everything applying it needs (service, Vertex model, the revision's spec), so
the applier reads no policy. Every effect is idempotent by construction (deterministic names,
absolute traffic, alias sets): re-applying one after a crash or a redelivery converges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from interlock.core.batch import Member
from interlock.core.policy import Pipeline
from interlock.core.values import fast_init


@fast_init
@dataclass(frozen=True)
class TriggerDag:
    pipeline: str
    dag_id: str
    run_id: str
    conf: Mapping[str, str | int | None]

    def describe(self) -> str:
        return f"trigger DAG {self.dag_id} run {self.run_id}"


@fast_init
@dataclass(frozen=True)
class DeployRevision:
    """Ensure Cloud Run revision `revision` of `service` serves `version`, holding no traffic yet.

    The applier adds only what the registry knows: `AIP_STORAGE_URI`, the version's artifacts.
    """

    model: str
    version: str
    revision: str
    service: str
    vertex_model: str
    image: str
    env: Mapping[str, str]
    port: int
    labels: Mapping[str, str]

    def describe(self) -> str:
        return f"deploy revision {self.revision} for {self.model} v{self.version}"


# The tags interlock gives revisions on Cloud Run (each also a Vertex alias of the same name).
CHAMPION, CANDIDATE, PREVIOUS = "champion", "candidate", "previous"
# A candidate's revision at 0 % while its smoke check runs: its own tag, so the traffic block
# (percents and the other tags) stays exactly as it was if the check fails.
SMOKE = "smoke"
TRAFFIC_TAGS = (CHAMPION, CANDIDATE, PREVIOUS, SMOKE)


@fast_init
@dataclass(frozen=True)
class TrafficSplit:
    revision: str
    percent: int
    tag: str | None = None

    def describe(self) -> str:
        tag = f" [{self.tag}]" if self.tag else ""
        return f"{self.revision}={self.percent}%{tag}"


@fast_init
@dataclass(frozen=True)
class SetTraffic:
    """Set the service's whole traffic block (percents sum to 100)."""

    model: str
    service: str
    splits: tuple[TrafficSplit, ...]

    def describe(self) -> str:
        return "traffic " + ", ".join(s.describe() for s in self.splits)


@fast_init
@dataclass(frozen=True)
class MoveAliases:
    """Put `add` aliases on `version` (Vertex moves them off any other version) and drop `remove`."""

    model: str
    vertex_model: str
    version: str
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"+{a}" for a in self.add] + [f"-{r}" for r in self.remove]
        return f"aliases v{self.version} " + " ".join(parts)


@fast_init
@dataclass(frozen=True)
class SmokeCheck:
    """Tag `revision` at 0 % (`SMOKE`) and POST `request` to its tag URL + `path`: any answer
    but `expect_status` (or none within `timeout_s`) rejects the version before any traffic."""

    model: str
    version: str
    service: str
    revision: str
    path: str
    request: Mapping[str, object]
    expect_status: int
    timeout_s: int
    tag: str = SMOKE

    def describe(self) -> str:
        return (
            f"smoke check revision {self.revision} at its {self.tag!r} tag URL "
            f"(POST {self.path}, expect {self.expect_status})"
        )


@fast_init
@dataclass(frozen=True)
class JoinWindow:
    """Add `member` to the open batch window of (pipeline, partition) — a sentinel (`member`
    None) marks it done — and close the window when that makes it due (`interlock.windows`)."""

    pipeline: Pipeline
    partition: str
    member: Member | None
    at: datetime

    def describe(self) -> str:
        what = self.member.uri if self.member else "sentinel"
        return f"join batch window {self.pipeline.name}/{self.partition}: {what}"


@fast_init
@dataclass(frozen=True)
class CloseWindow:
    """Close the open window of (pipeline, partition) now — every open one when partition is
    None — into its run (`interlock.windows`); nothing open is nothing to do."""

    pipeline: Pipeline
    partition: str | None
    at: datetime

    def describe(self) -> str:
        return f"close batch window {self.pipeline.name}/{self.partition or '*'}"


Effect = (
    TriggerDag | DeployRevision | SmokeCheck | SetTraffic | MoveAliases | JoinWindow | CloseWindow
)
