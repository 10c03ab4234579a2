"""Shared: one JSON object per line on stdout, the shape Cloud Logging reads as structured.

Only interlock's own fields are logged; credentials never pass through here.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any


def log(severity: str, message: str, **fields: Any) -> None:
    entry = {
        "severity": severity,
        "message": message,
        "time": datetime.now(UTC).isoformat(),
        **{k: v for k, v in fields.items() if v is not None},
    }
    # ensure_ascii keeps control characters from untrusted input escaped: one entry, one line.
    sys.stdout.write(json.dumps(entry, default=str, ensure_ascii=True) + "\n")
    sys.stdout.flush()
