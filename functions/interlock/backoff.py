"""Runner layer: jittered exponential backoff within a time budget — the one retry loop.

Used for waiting on a busy model's lease and for retrying a transient effect in-process, so both
pause the same way and both give up (to Pub/Sub's redelivery) when their budget is spent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """`pause()` sleeps for the next interval and returns True, or returns False (without
    sleeping) when that sleep would end past the budget."""

    def __init__(
        self,
        budget_s: float,
        first_s: float,
        max_s: float,
        jitter: tuple[float, float] = (0.8, 1.2),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deadline = clock() + budget_s
        self.interval = first_s
        self.max_s = max_s
        self.jitter = jitter
        self._sleep = sleep
        self._clock = clock
        self.last_wait_s = 0.0

    def next_wait(self, at_least_s: float = 0.0) -> float | None:
        """The next wait (honouring a server's Retry-After), or None when out of budget."""
        low, high = self.jitter
        wait = max(self.interval, at_least_s) * (low + (high - low) * random.random())
        if self._clock() + wait > self.deadline:
            return None
        return wait

    def pause(self, at_least_s: float = 0.0) -> bool:
        wait = self.next_wait(at_least_s)
        if wait is None:
            return False
        self.last_wait_s = wait
        self._sleep(wait)
        self.interval = min(self.interval * 2, self.max_s)
        return True
