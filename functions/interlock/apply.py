"""Runner layer: apply a decision's effects, in order, through the ports.

Effects carry what applying them needs (see `core.effects`); the applier adds only what the
registry answers (a version's artifact URI) and says, for the record, what each effect changed.
Transient failures are retried here within a budget, then left to Pub/Sub's redelivery.
"""

from __future__ import annotations

from interlock.backoff import Backoff
from interlock.core import smoke
from interlock.core.decision import Decision
from interlock.core.effects import (
    CloseWindow,
    DeployRevision,
    Effect,
    JoinWindow,
    MoveAliases,
    SetTraffic,
    SmokeCheck,
    TriggerDag,
)
from interlock.core.errors import PermanentError, TransientError
from interlock.log import log
from interlock.ports import Ports, RevisionSpec

# In-process retries of one effect; well inside a function's 540 s, beyond a typical blip.
RETRY_BUDGET_S = 60.0


class PartialFailure(PermanentError):
    """A permanent failure after some effects were applied: those stay visible in the record."""

    def __init__(self, err: PermanentError, applied: tuple[str, ...]) -> None:
        self.applied = applied
        super().__init__(err.field, f"{err.reason} (after: {'; '.join(applied)})")


class SmokeFailed(PermanentError):
    """A candidate's revision answered its smoke check wrongly: the decision becomes its
    rejection (`EffectApplier.carry_out`); a runner that does not know that dead-letters it."""

    def __init__(self, check: SmokeCheck, url: str, status: int | None, body: str) -> None:
        self.check, self.url, self.status, self.body = check, url, status, body
        self.applied: tuple[str, ...] = ()
        super().__init__("smoke", f"smoke check of {check.revision} answered {status}")


class EffectsUnavailable(TransientError):
    """An effect still failed transiently when the retry budget ran out: the upstream is down.

    The runner parks the event (see `core.pending`) instead of leaving it to Pub/Sub, whose
    patience (5 attempts, growing backoff) is shorter than a maintenance window.
    """

    def __init__(self, err: TransientError, effect: Effect) -> None:
        super().__init__(f"{effect.describe()}: {err.reason}", retry_after_s=err.retry_after_s)


class EffectApplier:
    def __init__(self, ports: Ports, retry_budget_s: float = RETRY_BUDGET_S) -> None:
        self.ports = ports
        self.retry_budget_s = retry_budget_s

    def carry_out(self, decision: Decision) -> tuple[Decision, tuple[str, ...]]:
        """Apply the decision's effects: the decision as it stands, and what each changed. A
        failed smoke check stops before any traffic moves; its rejection is what stands."""
        try:
            return decision, self.apply(decision.effects)
        except SmokeFailed as failed:
            if decision.on_smoke_failure is None:  # a move that lost its rejection: a bug
                raise PartialFailure(failed, failed.applied) from failed
            rejected = smoke.failed(decision, failed.check, failed.url, failed.status, failed.body)
            return rejected, failed.applied

    def apply(self, effects: tuple[Effect, ...]) -> tuple[str, ...]:
        """What each effect changed, in order. Raises PartialFailure after a partial apply."""
        done: list[str] = []
        for effect in effects:
            try:
                done.append(self._retrying(effect))
            except TransientError as err:
                raise EffectsUnavailable(err, effect) from err
            except SmokeFailed as err:
                err.applied = tuple(done)
                raise
            except PermanentError as err:
                if done:
                    raise PartialFailure(err, tuple(done)) from err
                raise
        return tuple(done)

    def _retrying(self, effect: Effect) -> str:
        """Effects are idempotent, so a retry is safe. Short outages then never reach Pub/Sub,
        whose push delivery slows down for an endpoint that keeps failing."""
        backoff = Backoff(self.retry_budget_s, first_s=0.5, max_s=8.0)
        while True:
            try:
                return self.apply_one(effect)
            except TransientError as err:
                if not backoff.pause(err.retry_after_s or 0.0):
                    raise
                log("WARNING", "transient failure, retried", effect=effect.describe(),
                    reason=err.reason, waited_s=round(backoff.last_wait_s, 2))  # fmt: skip

    def apply_one(self, effect: Effect) -> str:
        if isinstance(effect, TriggerDag):
            run = self.ports.dags.trigger(effect.dag_id, effect.run_id, dict(effect.conf))
            state = "created" if run.created else "already existed"
            return f"DAG {run.dag_id} run {run.run_id} {state} ({run.state})"
        if isinstance(effect, DeployRevision):
            version = self.ports.registry.get_version(effect.vertex_model, effect.version)
            self.ports.router.ensure_revision(
                effect.service, revision_spec(effect, version.artifact_uri)
            )
            return (
                f"revision {effect.revision} ready for v{effect.version} ({version.artifact_uri})"
            )
        if isinstance(effect, SmokeCheck):
            return self._smoke(effect)
        if isinstance(effect, SetTraffic):
            verified = self.ports.router.set_traffic(effect.service, effect.splits)
            return "traffic " + ", ".join(s.describe() for s in verified)
        if isinstance(effect, JoinWindow):
            from interlock.windows import Windows

            return Windows(self.ports).join(effect)
        if isinstance(effect, CloseWindow):
            from interlock.windows import Windows

            return Windows(self.ports).close_by_hand(effect)
        if isinstance(effect, MoveAliases):
            moved = self.ports.registry.merge_aliases(
                effect.vertex_model, effect.version, effect.add, effect.remove
            )
            return f"aliases of v{moved.version}: {', '.join(moved.aliases) or 'none'}"
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

    def _smoke(self, check: SmokeCheck) -> str:
        tagged = self.ports.router.tag_revision(check.service, check.revision, check.tag)
        url = tagged.url.rstrip("/") + check.path
        answer = self.ports.probe.post(url, check.request, tagged.audience, check.timeout_s)
        if answer.status != check.expect_status:
            raise SmokeFailed(check, url, answer.status, answer.body)
        return f"smoke check of {check.revision} passed: POST {url} answered {answer.status}"


def revision_spec(effect: DeployRevision, artifact_uri: str) -> RevisionSpec:
    """The revision as deployed: the effect's spec, and where the serving container finds the
    model (`AIP_STORAGE_URI`, Vertex's convention for custom serving containers)."""
    return RevisionSpec(
        name=effect.revision,
        image=effect.image,
        env={**effect.env, "AIP_STORAGE_URI": artifact_uri},
        port=effect.port,
        labels=dict(effect.labels),
    )
