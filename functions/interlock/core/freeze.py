"""Core layer: is a freeze window on at `now`, and until when (time passed in, zones from policy)."""

from __future__ import annotations

from datetime import datetime, timedelta

from interlock.core.freeze_load import zone
from interlock.core.policy import FreezeWindow, ModelPolicy


def _weekly_end(w: FreezeWindow, now: datetime) -> datetime | None:
    tz = zone(w.time_zone)
    if tz is None:  # pragma: no cover - the policy loader refuses unknown zones
        return None
    local = now.astimezone(tz)
    # A window that crosses midnight may have started yesterday.
    for back in (0, 1):
        day = (local - timedelta(days=back)).date()
        if day.weekday() not in w.days:
            continue
        start = datetime(day.year, day.month, day.day, *w.start, tzinfo=tz)
        end = datetime(day.year, day.month, day.day, *w.end, tzinfo=tz)
        if end <= start:
            end += timedelta(days=1)
        if start <= local < end:
            return end
    return None


def active_until(w: FreezeWindow, now: datetime) -> datetime | None:
    """When `w` ends, if it is on at `now`; None when it is off."""
    if w.days:
        return _weekly_end(w, now)
    if w.start_at is not None and w.end_at is not None and w.start_at <= now < w.end_at:
        return w.end_at
    return None


def frozen(mp: ModelPolicy, now: datetime) -> tuple[str, datetime] | None:
    """(why, until) of the freeze window on at `now` that ends last; None when none is."""
    if not mp.freeze:  # most models: no window to look at
        return None
    on = [(until, w) for w in mp.freeze if (until := active_until(w, now)) is not None]
    if not on:
        return None
    until, w = max(on, key=lambda pair: pair[0])
    return f"freeze window {w.name} until {until:%Y-%m-%d %H:%M %Z}", until
