"""Core layer: the two failure kinds every layer speaks (retry vs. dead-letter)."""

from __future__ import annotations


class InterlockError(Exception):
    """Base of interlock's own errors."""


class PermanentError(InterlockError, ValueError):
    """The input can never succeed: record it, dead-letter it with this reason, ack it.

    `field` names where the problem is (a dotted path into the input), so a user can fix it.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class TransientError(InterlockError):
    """Worth retrying (5xx, timeout, a racing writer): raise so Pub/Sub redelivers with backoff."""

    def __init__(self, reason: str, *, retry_after_s: float | None = None) -> None:
        self.reason = reason
        self.retry_after_s = retry_after_s
        super().__init__(reason)
