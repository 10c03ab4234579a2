"""CLI layer: per-model rows of `interlock status` — what serves, the canary step, what awaits
approval, pause/freeze, cooldown, held evaluation, the last windows against the thresholds —
as a readable table or JSON (the same fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from interlock.core.codec import format_time
from interlock.core.freeze import frozen
from interlock.core.policy import ModelPolicy
from interlock.core.state import ModelState


def _t(when: datetime | None) -> str | None:
    return format_time(when) if when is not None else None


def model_row(mp: ModelPolicy, state: ModelState, now: datetime) -> dict[str, Any]:
    cand = state.candidate
    freeze = frozen(mp, now)
    cooling = state.cooldown_until if state.cooldown_until and now < state.cooldown_until else None
    windows = {
        revision: [{"end": _t(w.end), "verdict": w.verdict} for w in seen]
        for revision, seen in state.windows.items()
    }
    return {
        "model": mp.name,
        "champion": state.champion.version if state.champion else None,
        "champion_revision": state.champion.revision if state.champion else None,
        "previous": state.previous.version if state.previous else None,
        "candidate": None
        if cand is None
        else {
            "version": cand.version,
            "revision": cand.revision,
            "percent": mp.canary.steps[cand.step],
            "step": f"{cand.step + 1} of {len(mp.canary.steps)}",
            "healthy_windows": f"{cand.healthy_windows} of {mp.canary.hold_windows}",
            "awaiting_approval_since": _t(cand.awaiting_since),
        },
        "paused": state.paused_reason if state.paused else None,
        "frozen": freeze[0] if freeze else None,
        "cooldown_until": _t(cooling),
        "held": state.held.version if state.held else None,
        "thresholds": [r.describe() for r in mp.guard.rules],
        "windows": windows,
    }


def render(rows: list[dict[str, Any]]) -> str:
    """One block per model, aligned; `-` where nothing applies."""
    lines: list[str] = []
    for row in rows:
        cand = row["candidate"]
        serving = f"v{row['champion']}" if row["champion"] else "nothing"
        canary = (
            f"v{cand['version']} at {cand['percent']} % (step {cand['step']}, "
            f"healthy {cand['healthy_windows']})"
            if cand
            else "-"
        )
        waiting = cand["awaiting_approval_since"] if cand else None
        approve = (
            f"v{cand['version']} since {waiting}: interlock approve {row['model']} {cand['version']}"
            if cand and waiting
            else "-"
        )
        lines.append(f"{row['model']}")
        for label, value in (
            ("serves", serving + (f" (previous v{row['previous']})" if row["previous"] else "")),
            ("canary", canary),
            ("approval", approve),
            ("paused", row["paused"] or "-"),
            ("frozen", row["frozen"] or "-"),
            ("cooldown", row["cooldown_until"] or "-"),
            ("held", f"evaluation of v{row['held']}" if row["held"] else "-"),
            ("thresholds", ", ".join(row["thresholds"])),
        ):
            lines.append(f"  {label:<11} {value}")
        for revision, seen in row["windows"].items():
            marks = " ".join({"healthy": "✓", "breach": "✗"}.get(w["verdict"], "?") for w in seen)
            last = seen[-1]["end"] if seen else "-"
            lines.append(f"  {'windows':<11} {revision}: {marks} (last ends {last})")
    return "\n".join(lines)
