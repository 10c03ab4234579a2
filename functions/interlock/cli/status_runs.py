"""CLI layer: the pipelines view of `interlock status` — recent landings, their runs, how each ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from interlock.core.effects import Effect, TriggerDag
from interlock.core.runs import WatchedRun, run_key


def at(when: datetime) -> str:
    """A time as status prints it: UTC, with its zone."""
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"


def run_line(run: WatchedRun) -> str:
    """`succeeded`, `failed: why`, or still running (as Airflow said when last read back)."""
    if run.outcome == "run_succeeded":
        return f"run_succeeded (recorded {at(run.finished_at or run.triggered_at)})"
    if run.outcome is not None:
        recorded = at(run.finished_at or run.triggered_at)
        return f"{run.outcome} (recorded {recorded}): {run.reason or 'no reason given'}"
    seen = f", {run.checks} check(s)" if run.checks else ", not read back yet"
    return f"{run.state or 'queued'}{seen}; watched by the tick, next {at(run.next_check)}"


def print_pipelines(ledger: Any, policy: Any, limit: int) -> None:
    runs: list[WatchedRun] = ledger.runs(limit=limit)
    if not policy.pipelines and not runs:
        return
    print("\npipelines (recent landings, their runs, how each ended):")
    for pipeline in policy.pipelines:
        mine = [r for r in runs if r.pipeline == pipeline.name]
        print(f"  {pipeline.name} → DAG {pipeline.dag_id}: {len(mine) or 'no'} recent run(s)")
        for run in mine:
            print(f"    {at(run.triggered_at)}  {run.object or run.landing_key}")
            print(f"      run {run.run_id}: {run_line(run)}")
    # Runs of pipelines no longer in the policy stay visible.
    known = {p.name for p in policy.pipelines}
    for run in (r for r in runs if r.pipeline not in known):
        print(f"  {run.pipeline} (not in the policy) → DAG {run.dag_id}")
        print(f"    {at(run.triggered_at)}  {run.object or run.landing_key}")
        print(f"      run {run.run_id}: {run_line(run)}")


def print_runs_of(ledger: Any, effects: tuple[Effect, ...]) -> None:
    """`explain --ledger`: how each run the decision triggers has ended, as the ledger knows it."""
    triggers = [e for e in effects if isinstance(e, TriggerDag)]
    for i, effect in enumerate(triggers):
        run = ledger.watched_run(run_key(effect.dag_id, effect.run_id))
        seen = run_line(run) if run is not None else "not triggered yet (no record in the ledger)"
        print(f"{'runs' if i == 0 else '':<9} {effect.run_id}: {seen}")
