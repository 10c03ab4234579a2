"""CLI layer: `interlock status --json` and `--watch`: the per-model rows (`status_models`),
printed once as JSON or redrawn in place until Ctrl-C."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from interlock.cli.common import fail
from interlock.cli.status_models import model_row, render

CLEAR = "\x1b[H\x1b[2J"  # home + clear screen: redraw in place


def rows(args: Any, policy: Any, ledger: Any, now: datetime) -> list[dict[str, Any]]:
    names = [m.name for m in policy.models]
    if args.model and args.model not in names:
        fail(f"unknown model {args.model!r} (policy has: {', '.join(names) or 'none'})")
    return [
        model_row(policy.model(name), ledger.load(name).state, now)
        for name in ([args.model] if args.model else names)
    ]


def models_command(
    args: Any,
    policy: Any,
    ledger: Any,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    frames: int | None = None,
) -> int:
    if args.json:
        print(json.dumps({"models": rows(args, policy, ledger, clock())}, indent=2))
        return 0
    drawn = 0
    try:
        while frames is None or drawn < frames:
            now = clock()
            sys.stdout.write(CLEAR + f"interlock status  {now:%Y-%m-%d %H:%M:%SZ}\n\n")
            sys.stdout.write(render(rows(args, policy, ledger, now)) + "\n")
            sys.stdout.flush()
            drawn += 1
            if frames is None or drawn < frames:
                sleep(args.watch)
    except KeyboardInterrupt:
        pass
    return 0
