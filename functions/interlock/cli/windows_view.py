"""CLI layer: batch windows as `interlock status` and `interlock explain --ledger` show them —
each open (or interrupted) window, its members, and when it closes at the latest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from interlock.core.batch import BatchWindow
from interlock.core.policy import Policy

MEMBERS_SHOWN = 10


def closes(window: BatchWindow, policy: Policy) -> str:
    """When the tick closes it (the earlier of quiet and max_wait), or why it is waiting."""
    if window.state == "closing":
        return f"closing since {window.closed_at:%H:%M:%SZ} ({window.close_reason}); the tick finishes it"
    try:
        b = policy.pipeline(window.pipeline).batch
    except Exception:
        b = None
    if b is None:
        return "its pipeline is no longer batched: close it by hand"
    if window.sentinel:
        return "sentinel seen: closes now"
    quiet = window.last_at + timedelta(seconds=b.quiet_s)
    bound = window.opened_at + timedelta(seconds=b.max_wait_s)
    at = min(quiet, bound)
    why = "quiet" if quiet <= bound else "max_wait"
    sentinel = f", or on {b.sentinel}" if b.sentinel else ""
    return f"closes by {at:%Y-%m-%d %H:%M:%SZ} ({why}), at {b.max_objects} objects{sentinel}"


def window_lines(ledger: Any, policy: Policy, window: BatchWindow) -> list[str]:
    lines = [
        f"  {window.label:<32} {window.state:<8} {window.count} object(s) since "
        f"{window.opened_at:%Y-%m-%d %H:%M:%SZ}",
        f"    {closes(window, policy)}",
    ]
    members = ledger.members(window.pipeline, window.partition, window.epoch)
    for m in members[:MEMBERS_SHOWN]:
        lines.append(f"    · {m.uri}  ({m.found_by})")
    if len(members) > MEMBERS_SHOWN:
        lines.append(f"    · … and {len(members) - MEMBERS_SHOWN} more")
    return lines


def print_windows(
    ledger: Any, policy: Policy, pipeline: str | None = None, limit: int = 20
) -> None:
    windows = ledger.windows(("open", "closing"), pipeline, limit=limit)
    if not windows:
        return
    print(f"\nbatch windows ({len(windows)}{'+' if len(windows) == limit else ''} open):")
    for w in windows:
        print("\n".join(window_lines(ledger, policy, w)))
