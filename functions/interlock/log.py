"""Shared: one JSON object per line on stdout, the shape Cloud Logging reads as structured.

Only interlock's own fields are logged; credentials never pass through here.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import IO, Any

# Functions log to stdout (Cloud Logging reads it); the CLI sends these lines to stderr, so its
# stdout carries only its answer (`--json` output stays one parseable document).
_stream: IO[str] | None = None


def use(stream: IO[str] | None) -> IO[str] | None:
    """Log to `stream` from now on (None: stdout); the stream used before."""
    global _stream
    previous, _stream = _stream, stream
    return previous


def log(severity: str, message: str, **fields: Any) -> None:
    entry = {
        "severity": severity,
        "message": message,
        "time": datetime.now(UTC).isoformat(),
        **{k: v for k, v in fields.items() if v is not None},
    }
    # ensure_ascii keeps control characters from untrusted input escaped: one entry, one line.
    out = _stream or sys.stdout
    out.write(json.dumps(entry, default=str, ensure_ascii=True) + "\n")
    out.flush()
