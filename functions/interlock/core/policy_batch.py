"""Core layer: a pipeline's `batch:` block (and the retired `debounce`) validated into `Batch`.

Durations here need their unit ("90s", "2m", "1h"): a bare number is too easy to misread as
minutes. Every bad value is reported with its path, like the rest of `core.policy_load`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from interlock.core.policy import Batch

_UNIT_DURATION_RE = re.compile(r"^\s*([0-9]+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KEYS = {"quiet", "max_wait", "max_objects", "sentinel", "partition", "while_running"}
MAX_WAIT_LIMIT_S = 7 * 86400
MAX_OBJECTS_LIMIT = 100_000

Report = Callable[[str, str], None]


def _shown(value: Any) -> str:
    return (
        "a list"
        if isinstance(value, list)
        else "a mapping"
        if isinstance(value, dict)
        else repr(value)
    )


def _duration(add: Report, m: Mapping[str, Any], key: str, path: str, default: int) -> int:
    if key not in m:
        return default
    value = m[key]
    match = _UNIT_DURATION_RE.match(value) if isinstance(value, str) else None
    if match is None:
        add(
            f"{path}.{key}",
            f'expected a duration with its unit, like "90s", "2m" or "1h", got {_shown(value)}',
        )
        return default
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not 1 <= seconds <= MAX_WAIT_LIMIT_S:
        add(f"{path}.{key}", f"must be between 1s and 7d, got {value!r}")
        return default
    return seconds


def debounce_problem(value: Any) -> str:
    """Why `debounce` is refused, and what to write instead (it dead-lettered every object but
    the first of a window: they met the first one's run id with another conf)."""
    if value in (0, "0", "0s", "0m", None):
        return "no longer supported; remove it (one run per object generation is the default)"
    shown = value if isinstance(value, str) else f"{value}s"
    return (
        "no longer supported (every object after a window's first was dead-lettered); for one run "
        f"per burst write `batch: {{quiet: {shown}, max_wait: {shown}}}` (add `sentinel: _SUCCESS` "
        "if the writer marks the end), or remove it for one run per object"
    )


def load_batch(add: Report, raw: Any, path: str) -> Batch | None:
    """The `batch:` block; `batch: {}` takes every default. None when the key is absent."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        add(
            path,
            f"expected a mapping (quiet, max_wait, max_objects, sentinel, partition, while_running), got {_shown(raw)}",
        )
        return None
    for key in raw:
        if key not in KEYS:
            add(f"{path}.{key}", f"unknown key (expected one of: {', '.join(sorted(KEYS))})")
    d = Batch()
    quiet = _duration(add, raw, "quiet", path, d.quiet_s)
    max_wait = _duration(add, raw, "max_wait", path, max(d.max_wait_s, quiet))
    if max_wait < quiet:
        add(f"{path}.max_wait", f"must not be shorter than quiet ({max_wait}s < {quiet}s)")
    max_objects = raw.get("max_objects", d.max_objects)
    if isinstance(max_objects, bool) or not isinstance(max_objects, int):
        add(f"{path}.max_objects", f"expected a whole number, got {_shown(max_objects)}")
        max_objects = d.max_objects
    elif not 1 <= max_objects <= MAX_OBJECTS_LIMIT:
        add(f"{path}.max_objects", f"must be between 1 and {MAX_OBJECTS_LIMIT}, got {max_objects}")
    sentinel = raw.get("sentinel")
    if sentinel is not None and (not isinstance(sentinel, str) or not sentinel or "/" in sentinel):
        add(
            f"{path}.sentinel",
            f'expected an object base name like "_SUCCESS" (no "/"), got {_shown(sentinel)}',
        )
        sentinel = None
    partition = raw.get("partition")
    if partition is not None:
        partition = _partition(add, partition, f"{path}.partition")
    while_running = raw.get("while_running", "queue")
    if while_running not in ("queue", "coalesce"):
        add(f"{path}.while_running", f'expected "queue" or "coalesce", got {_shown(while_running)}')
        while_running = "queue"
    return Batch(
        quiet_s=quiet, max_wait_s=max_wait, max_objects=max_objects, sentinel=sentinel,
        partition=partition, while_running=while_running,
    )  # fmt: skip


def _partition(add: Report, value: Any, where: str) -> str | None:
    if not isinstance(value, str) or not value:
        add(
            where,
            f'expected a regular expression with a capture group, like "dt=([^/]+)/", got {_shown(value)}',
        )
        return None
    try:
        compiled = re.compile(value)
    except re.error as err:
        add(where, f"not a regular expression: {err}")
        return None
    if compiled.groups < 1:
        add(
            where,
            f'needs at least one capture group (the partition), like "dt=([^/]+)/", got {value!r}',
        )
        return None
    return value
