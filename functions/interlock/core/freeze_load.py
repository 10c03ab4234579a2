"""Core layer: the policy's `freeze:` windows (top level and per model) validated into values.

Weekly: `days: [fri, sat]`, `start: "18:00"`, `end: "08:00"` (an end not after the start is the
next day). One-off: `start: 2026-12-20T00:00`, `end: 2027-01-04T00:00`. Both in `time_zone`
(IANA name, e.g. Europe/Paris; a one-off time with its own offset keeps it).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from interlock.core.policy import FreezeWindow

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_KEYS = {"name", "time_zone", "days", "start", "end"}


class _Sink(Protocol):
    def add(self, path: str, message: str) -> None: ...


def zone(name: str) -> ZoneInfo | None:
    """The IANA zone, or None when the name is not one (tz database of the runtime)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _clock(p: _Sink, value: Any, path: str) -> tuple[int, int]:
    match = _CLOCK_RE.match(value) if isinstance(value, str) else None
    if match is None:
        p.add(path, f'expected a quoted local time like "18:00", got {value!r}')
        return (0, 0)
    return int(match.group(1)), int(match.group(2))


def _moment(p: _Sink, value: Any, path: str, tz: ZoneInfo | None) -> datetime | None:
    when = value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            when = None
    if not isinstance(when, datetime):
        p.add(path, f"expected a date-time like 2026-12-20T00:00, got {value!r}")
        return None
    if when.tzinfo is None and tz is not None:
        when = when.replace(tzinfo=tz)
    return when


def _window(p: _Sink, raw: Any, path: str) -> FreezeWindow | None:
    if not isinstance(raw, dict):
        p.add(path, "expected a mapping with time_zone, start, end (and days, weekly)")
        return None
    for key in raw:
        if key not in _KEYS:
            p.add(f"{path}.{key}", f"unknown key (expected one of: {', '.join(sorted(_KEYS))})")
    tz_name = raw.get("time_zone")
    tz = zone(tz_name) if isinstance(tz_name, str) else None
    if tz is None:
        p.add(f"{path}.time_zone", f"expected an IANA time zone like Europe/Paris, got {tz_name!r}")
    name = raw.get("name", path)
    name = name if isinstance(name, str) else path
    if "days" in raw:
        days = raw["days"] if isinstance(raw["days"], list) else [raw["days"]]
        bad = [d for d in days if not isinstance(d, str) or d.lower()[:3] not in DAYS]
        if bad or not days:
            p.add(f"{path}.days", f"expected days among {', '.join(DAYS)}, got {raw['days']!r}")
        picked = tuple(sorted({DAYS.index(d.lower()[:3]) for d in days if d not in bad}))
        start = _clock(p, raw.get("start"), f"{path}.start")
        end = _clock(p, raw.get("end"), f"{path}.end")
        return FreezeWindow(name, str(tz_name), days=picked, start=start, end=end)
    start_at = _moment(p, raw.get("start"), f"{path}.start", tz)
    end_at = _moment(p, raw.get("end"), f"{path}.end", tz)
    if start_at is not None and end_at is not None and end_at <= start_at:
        p.add(f"{path}.end", "must be after start")
    return FreezeWindow(name, str(tz_name), start_at=start_at, end_at=end_at)


def freeze_windows(p: _Sink, raw: Any, path: str) -> tuple[FreezeWindow, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        p.add(path, "expected a list of windows")
        return ()
    windows = (_window(p, item, f"{path}[{i}]") for i, item in enumerate(raw))
    return tuple(w for w in windows if w is not None)
