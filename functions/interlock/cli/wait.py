"""CLI layer: wait for the decision on what a command sent, and say it — with its reasons.

The decision is read back from the ledger (where every final outcome is recorded once), under
the event's idempotency key, or — for a delivery the function refused, e.g. sent to the wrong
function — under the key of that delivery. Exit codes: 0 something was applied, 3 decided but
nothing applied (stale, needs_human, expired, rejected, dead_lettered, held, …), 4 no decision
within the timeout (or still pending while an upstream is down).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from interlock.core import codec
from interlock.core.events import Outcome

APPLIED = frozenset({"triggered", "promoted", "advanced", "rolled_back", "paused", "resumed"})
EXIT_APPLIED, EXIT_NOT_APPLIED, EXIT_UNDECIDED = 0, 3, 4
POLL_S = 0.4


def find(ledger: Any, keys: Sequence[str], event_ids: Sequence[str]) -> Outcome | None:
    for key in keys:
        outcome = ledger.get(key)
        if outcome is not None:
            return outcome  # type: ignore[no-any-return]
    for outcome in ledger.outcomes(limit=50):
        if outcome.event_id in event_ids:
            return outcome  # type: ignore[no-any-return]
    return None


def wait(
    ledger: Any,
    keys: Sequence[str],
    event_ids: Sequence[str],
    timeout_s: float,
    *,
    quiet: bool = False,
) -> tuple[Outcome | None, Any]:
    """(outcome, None) once decided; (None, pending-or-None) at the timeout."""
    start = time.monotonic()
    live = sys.stderr.isatty() and not quiet
    if not quiet:
        print(f"waiting for the decision (up to {timeout_s:g}s; --no-wait skips this)…",
              file=sys.stderr, end="" if live else "\n", flush=True)  # fmt: skip
    pending = None
    try:
        while True:
            outcome = find(ledger, keys, event_ids)
            if outcome is not None:
                return outcome, None
            pending = ledger.pending(keys[0]) if keys else None
            elapsed = time.monotonic() - start
            if elapsed >= timeout_s:
                return None, pending
            if live:
                print(f"\rwaiting for the decision… {elapsed:4.0f}s", end="", file=sys.stderr,
                      flush=True)  # fmt: skip
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        print("\nstopped waiting: what was sent stays sent; `interlock status` shows its decision",
              file=sys.stderr)  # fmt: skip
        raise
    finally:
        if live:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def report(
    outcome: Outcome | None, pending: Any, timeout_s: float, as_json: bool, extra: dict[str, Any]
) -> int:
    """Print the decision (or why there is none yet); the exit code says whether it applied."""
    if outcome is None:
        code = EXIT_UNDECIDED
        if as_json:
            doc = {**extra, "decision": None, "pending": codec.encode(pending) if pending else None}
            print(json.dumps(doc, indent=2))
            return code
        if pending is not None:
            print(f"pending: {pending.reason}")
            print(f"  the tick re-drives it (attempt {pending.attempts} failed); "
                  "`interlock status` shows when it is decided")  # fmt: skip
        else:
            print(f"no decision after {timeout_s:g}s: it may still come; `interlock status` "
                  "shows it, or wait longer with --timeout")  # fmt: skip
        return code
    code = EXIT_APPLIED if outcome.kind in APPLIED else EXIT_NOT_APPLIED
    if as_json:
        print(
            json.dumps({**extra, "decision": codec.encode(outcome), "applied": code == 0}, indent=2)
        )
        return code
    who = f" by {outcome.requested_by}" if outcome.requested_by else ""
    print(
        f"decision  {outcome.kind}  {outcome.subject}{' (manual)' if outcome.manual else ''}{who}"
    )
    for reason in outcome.reasons:
        print(f"  - {reason}")
    for effect in outcome.effects:
        print(f"  → {effect}")
    if code:
        print(f"nothing was applied ({outcome.kind})")
    return code
