"""Adapters layer: post a structured CloudEvent straight to a function's URL.

For the CLI's `--to URL` and the local stack without Pub/Sub; functions never call it. A 4xx
means the function refused the event (permanent); 5xx or no answer may pass (transient).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from interlock.core.errors import PermanentError, TransientError
from interlock.core.text import one_line


def post_cloudevent(url: str, event: Mapping[str, Any], timeout_s: float = 60.0) -> int:
    """POST `event` (structured mode); returns the HTTP status of an accepted delivery."""
    if not url.startswith(("http://", "https://")):
        raise PermanentError("to", f"{url!r}: expected an http:// or https:// function URL")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=json.dumps(event).encode(), method="POST",
        headers={"Content-Type": "application/cloudevents+json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        body = one_line(err.read()[:2000].decode(errors="replace"), 300)
        if err.code < 500:
            raise PermanentError("to", f"{url} answered HTTP {err.code}: {body}") from None
        raise TransientError(f"{url} answered HTTP {err.code}: {body}") from None
    except (urllib.error.URLError, OSError) as err:
        raise TransientError(f"cannot reach {url}: {getattr(err, 'reason', err)}") from None
