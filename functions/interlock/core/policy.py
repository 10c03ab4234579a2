"""Core layer: the policy model — frozen values the decisions read (interlock.yaml, validated).

`core.policy_load.load_policy` builds it from the parsed YAML and reports every problem.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from interlock.core.errors import PermanentError

Op = Literal[">=", "<="]
PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
SERVICE_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/services/([a-z][a-z0-9-]{0,48})$")


class PolicyError(PermanentError):
    """The policy file is invalid; `problems` lists every `path: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("policy", f"{len(problems)} problem(s):\n" + "\n".join(problems))


@dataclass(frozen=True)
class Rule:
    """`metric op threshold`, or relative: `metric op champion + margin`."""

    metric: str
    op: Op
    value: float
    relative: bool = False

    def bound(self, champion: float | None = None) -> float:
        return (champion or 0.0) + self.value if self.relative else self.value

    def passes(self, observed: float, champion: float | None = None) -> bool:
        limit = self.bound(champion)
        return observed >= limit if self.op == ">=" else observed <= limit

    def describe(self) -> str:
        return self._description

    @functools.cached_property
    def _description(self) -> str:
        """Worked out once per rule: every gate decision lists the rules it applied."""
        if not self.relative:
            return f"{self.metric} {self.op} {self.value:g}"
        if self.value == 0:
            return f"{self.metric} {self.op} champion"
        sign = "+" if self.value > 0 else "-"
        return f"{self.metric} {self.op} champion {sign} {abs(self.value):g}"


@dataclass(frozen=True)
class Batch:
    """`batch:` on a pipeline: objects gather in a window that closes into one run (`core.batch`).

    Closed on the first of: the sentinel object, `quiet_s` without a new object, `max_wait_s`
    since the first one, `max_objects` members (or by hand). `partition`'s capture groups split
    windows; `while_running: coalesce` keeps a due window open while the pipeline's last run runs.
    """

    quiet_s: int = 120
    max_wait_s: int = 900
    max_objects: int = 500
    sentinel: str | None = None
    partition: str | None = None
    while_running: Literal["queue", "coalesce"] = "queue"


@dataclass(frozen=True)
class Pipeline:
    name: str
    bucket: str
    prefix: str
    glob: str
    dag_id: str
    conf: Mapping[str, str]
    batch: Batch | None = None  # None: one run per object generation


@dataclass(frozen=True)
class ServingSpec:
    image: str
    env: Mapping[str, str]
    port: int = 8080


@dataclass(frozen=True)
class Gate:
    rules: tuple[Rule, ...]
    min_samples: int = 0
    same_dataset: bool = True


@dataclass(frozen=True)
class Smoke:
    """`canary.smoke`: the sample request a candidate's revision must answer at 0 % traffic."""

    request: Mapping[str, object]
    path: str = "/predict"
    expect_status: int = 200
    timeout_s: int = 30


@dataclass(frozen=True)
class Canary:
    steps: tuple[int, ...] = (10, 50, 100)
    hold_windows: int = 2
    min_samples: int = 0
    # Indexes into `steps` a human must approve before the canary moves to them
    # (`steps: [10, 50, approve, 100]` → steps (10, 50, 100), approve_before (2,)).
    approve_before: tuple[int, ...] = ()
    approval_timeout_s: int | None = None  # None: wait for a human as long as it takes
    on_approval_timeout: Literal["hold", "abort"] = "hold"
    smoke: Smoke | None = None  # None: no pre-traffic check

    def needs_approval(self, step: int) -> bool:
        return step in self.approve_before


@dataclass(frozen=True)
class Guard:
    rules: tuple[Rule, ...]
    breaches: int = 3
    of_windows: int = 5
    min_samples: int = 0
    on_inconclusive: Literal["hold", "rollback"] = "hold"
    inconclusive_limit: int = 3
    cooldown_s: int = 1800
    max_rollbacks: int = 2
    rollback_period_s: int = 86400
    guard_window_s: int = 3600
    # What an open Cloud Monitoring incident on a serving revision does (`on_alert`).
    alerts: Literal["breach", "rollback", "advisory"] = "breach"

    # A champion breach after its guard window: ask a human (as before) or roll back anyway.
    after_window: Literal["needs_human", "rollback"] = "needs_human"
    # While a human paused the model or a freeze window is on: rollbacks still happen, or hold.
    while_paused: Literal["rollback", "hold"] = "rollback"

    @functools.cached_property
    def guard_window(self) -> timedelta:
        """`guard_window_s` as a timedelta, made once: every promotion adds it to now."""
        return timedelta(seconds=self.guard_window_s)


@dataclass(frozen=True)
class Observe:
    """`observe:` the built-in observer reads the serving revisions' live metrics (issue 14)."""

    source: Literal["cloud_run"] = "cloud_run"
    window_s: int = 300
    delay_s: int = 180  # Cloud Run metrics become visible up to 180 s after sampling


@dataclass(frozen=True)
class FreezeWindow:
    """A time automatic promotions and advances wait out: weekly (`days`, `start`-`end` local
    times, may cross midnight) or one-off (`start_at`-`end_at`), in the IANA `time_zone`."""

    name: str
    time_zone: str
    days: tuple[int, ...] = ()  # 0 = Monday; weekly windows only
    start: tuple[int, int] = (0, 0)  # local (hour, minute), weekly
    end: tuple[int, int] = (0, 0)
    start_at: datetime | None = None  # one-off, aware datetimes
    end_at: datetime | None = None


@dataclass(frozen=True)
class ModelPolicy:
    name: str
    vertex_model: str
    service: str
    serving: ServingSpec
    gate: Gate
    canary: Canary
    guard: Guard
    observe: Observe | None = None
    freeze: tuple[FreezeWindow, ...] = ()  # the policy's `freeze:` windows and the model's own

    @functools.cached_property
    def service_id(self) -> str:
        """Worked out once per model: every revision name starts with it."""
        match = SERVICE_RE.match(self.service)
        return match.group(1) if match else self.service

    def revision_name(self, version: str) -> str:
        """Deterministic from (service, version): a redelivered promotion reuses the revision.

        At most 37 + 2 + 18 = 57 characters (Cloud Run allows 63): the policy caps service ids
        at 37 so that every traffic tag fits beside them (`core.google_names`)."""
        return f"{self.service_id}-v{version}"


@dataclass(frozen=True)
class PendingPolicy:
    """How long interlock keeps re-driving an event whose upstream is down, and how often."""

    give_up_after_s: int = 86400
    retry_first_s: int = 60
    retry_max_s: int = 900


@dataclass(frozen=True)
class Policy:
    pipelines: tuple[Pipeline, ...]
    models: tuple[ModelPolicy, ...]
    max_age_s: Mapping[str, int]
    pending: PendingPolicy = PendingPolicy()

    @functools.cached_property
    def max_age(self) -> Mapping[str, timedelta]:
        """`max_age_s` as the timedeltas every event's age is compared with (made once)."""
        return {kind: timedelta(seconds=s) for kind, s in self.max_age_s.items()}

    def model(self, name: str) -> ModelPolicy:
        for m in self.models:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.models) or "none"
        raise PermanentError("model", f"unknown model {name!r} (policy has: {known})")

    def pipeline(self, name: str) -> Pipeline:
        for p in self.pipelines:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.pipelines) or "none"
        raise PermanentError("pipeline", f"unknown pipeline {name!r} (policy has: {known})")
