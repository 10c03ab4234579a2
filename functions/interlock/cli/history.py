"""CLI layer: `interlock history MODEL --at TIME | --between START END` — which versions served
which share of traffic then, from the ledger, with the decision that put them there.

The answer is `core/history.py`'s; docs/operations.md ("Lineage") gives the same query over the
BigQuery archive of the decisions topic.
"""

from __future__ import annotations

import json
from typing import Any

from interlock.cli.common import fail
from interlock.cli.lineage import OUTCOMES_READ, context
from interlock.core import history
from interlock.core.codec import encode, format_time, parse_time
from interlock.core.history import Served


def history_command(args: Any) -> int:
    if (args.at is None) == (args.between is None):
        fail("give --at TIME or --between START END (RFC 3339, e.g. 2026-12-02T17:05:00Z)")
    _, _, _, outcomes = context(args)
    if args.at is not None:
        at = parse_time(args.at, "--at")
        found = history.served_at(outcomes, at)
        served = [found] if found else []
        asked = f"at {format_time(at)}"
    else:
        start, end = (
            parse_time(args.between[0], "--between"),
            parse_time(args.between[1], "--between"),
        )
        if end < start:
            fail(f"--between: {args.between[1]} is before {args.between[0]}")
        served = history.served_between(outcomes, start, end)
        asked = f"between {format_time(start)} and {format_time(end)}"
    if args.json:
        print(json.dumps({"model": args.model, "asked": asked,
                          "served": [encode(s) for s in served]}, indent=2))  # fmt: skip
        return 0
    if not served:
        first = min((o.decided_at for o in outcomes if o.traffic), default=None)
        known = f"; its first traffic move is at {format_time(first)}" if first else ""
        print(f"{args.model} {asked}: nothing served, as far as the ledger knows{known}")
        return 0
    print(f"{args.model} {asked} (from the ledger):")
    for period in served:
        _print(period)
    if len(outcomes) >= OUTCOMES_READ:
        print(f"(only the newest {OUTCOMES_READ} decisions of {args.model} were read)")
    return 0


def _print(period: Served) -> None:
    until = format_time(period.until) if period.until else "now"
    print(f"  {format_time(period.since)} → {until}")
    for share in sorted(period.shares, key=lambda s: -s.percent):
        tag = f"  [{share.tag}]" if share.tag else ""
        print(f"    v{share.version:<6} {share.percent:>3} %  revision {share.revision}{tag}")
    d = period.decision
    who = f" by {d.requested_by}" if d.requested_by else ""
    print(f"    put there by: {d.kind}{who} (decision {d.decision_id}, event {d.event_id})")
    for reason in d.reasons:
        print(f"      - {reason}")
