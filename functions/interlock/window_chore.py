"""Runner layer: the tick's chore that closes batch windows whose quiet or max_wait has passed,
and finishes any close a crash interrupted (`interlock.windows`)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from interlock.core import batch
from interlock.core.errors import PermanentError, TransientError
from interlock.handlers import Handler
from interlock.log import log
from interlock.windows import Windows


class CloseWindows:
    name = "windows"

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic

    def run(self, handler: Handler, deadline: float) -> Counter[str]:
        done: Counter[str] = Counter()
        windows = Windows(handler.ports)
        for window in handler.ports.ledger.windows(("open", "closing")):
            if self._monotonic() >= deadline:
                done["left"] += 1
                continue
            try:
                p = handler.policy.pipeline(window.pipeline)
                if p.batch is None:
                    raise PermanentError("batch", f"pipeline {p.name} is no longer batched")
                now = handler.clock()
                if window.state == "closing":
                    said = windows.finish(p, window)
                else:
                    reason = batch.due(window, p.batch, now)
                    if reason is None:
                        done["open"] += 1
                        continue
                    said = windows.close(p, window, reason, now)
                done["held" if "held open" in said else "closed"] += 1
                log("INFO", "tick: batch window", window=window.label, result=said)
            except TransientError as err:
                log("WARNING", "tick: batch window deferred", window=window.label,
                    reason=err.reason)  # fmt: skip
                done["deferred"] += 1
            except PermanentError as err:
                # Left as it is, visible in `interlock status`: an operator decides.
                log("ERROR", "tick: batch window stuck", window=window.label, reason=err.reason)
                done["stuck"] += 1
        return done
