"""Core layer: the policy's `canary.smoke` section (the pre-traffic check) validated into a value.

`smoke: {request: {instances: [...]}, path: /predict, expect_status: 200, timeout: 30s}`:
`request` is the JSON body POSTed to the candidate's tag URL + `path` before any traffic moves.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from interlock.core.policy import Smoke

_KEYS = {"request", "path", "expect_status", "timeout"}
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
MAX_REQUEST_BYTES = 64 * 1024
MAX_TIMEOUT_S = 300  # well inside a function's 540 s, with the deploy before it


class _Sink(Protocol):
    def add(self, path: str, message: str) -> None: ...


def smoke(p: _Sink, raw: Any, path: str, duration: Any) -> Smoke | None:
    """None without the section. `duration(value)` is the policy's duration parser."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        p.add(path, "expected a mapping with `request` (the JSON body to POST)")
        return None
    for key in raw:
        if key not in _KEYS:
            p.add(f"{path}.{key}", f"unknown key (expected one of: {', '.join(sorted(_KEYS))})")
    request = raw.get("request")
    if not isinstance(request, dict) or not request:
        p.add(f"{path}.request", "expected a mapping: the JSON body of the sample request")
        request = {}
    else:
        try:
            size = len(json.dumps(request, allow_nan=False).encode())
        except (TypeError, ValueError) as e:
            p.add(f"{path}.request", f"not JSON-serializable: {e}")
        else:
            if size > MAX_REQUEST_BYTES:
                p.add(f"{path}.request", f"{size} bytes as JSON; at most {MAX_REQUEST_BYTES}")
    url_path = raw.get("path", "/predict")
    if not isinstance(url_path, str) or not _PATH_RE.match(url_path) or len(url_path) > 512:
        p.add(f"{path}.path", f"expected a URL path starting with /, got {url_path!r}"[:300])
        url_path = "/predict"
    status = raw.get("expect_status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 299:
        p.add(f"{path}.expect_status", f"expected a 2xx status code, got {status!r}"[:300])
        status = 200
    timeout = duration(raw.get("timeout", 30))
    if timeout is None or not 1 <= timeout <= MAX_TIMEOUT_S:
        p.add(
            f"{path}.timeout",
            f'expected a duration from "1s" to "{MAX_TIMEOUT_S}s", got {raw.get("timeout")!r}'[
                :300
            ],
        )
        timeout = 30
    return Smoke(request=request, path=url_path, expect_status=status, timeout_s=timeout)
