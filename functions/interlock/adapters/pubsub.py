"""Adapters layer: publish messages (built by `core.binding`) on Pub/Sub.

`PubSubEventBus` publishes and waits for the server's message id, over Pub/Sub's REST API
(`topics.publish`, plain JSON through `google_rest`). `google.cloud.pubsub_v1` would load gRPC
and its batching machinery (~0.3 s of every cold start) for one call per event; a function
publishes one message at a time and waits for it anyway, so batching buys nothing here.
"""

from __future__ import annotations

import base64
import os
import threading
import time

from interlock import topics
from interlock.adapters.google_errors import rpc_status, translate
from interlock.adapters.google_rest import GoogleCallError, GoogleRest
from interlock.core.errors import InterlockError, PermanentError, TransientError
from interlock.ports import Message

DEFAULT_TIMEOUT_S = 10.0


def translate_error(exc: Exception, what: str) -> InterlockError:
    """A client failure as TransientError (retry) or PermanentError (dead-letter)."""
    if isinstance(exc, InterlockError):
        return exc
    if isinstance(exc, TypeError | ValueError):
        # The client rejects a malformed message (non-str attribute, non-bytes data) locally.
        return PermanentError("", f"{what}: {type(exc).__name__}: {str(exc)[:300]}")
    return translate(exc, "", what)


# What google-cloud-pubsub's publisher retries (its default retry codes), within our deadline.
RETRIED = frozenset(
    {"ABORTED", "CANCELLED", "DEADLINE_EXCEEDED", "INTERNAL", "RESOURCE_EXHAUSTED",
     "UNAVAILABLE", "UNKNOWN"}
)  # fmt: skip


class PubSubEventBus:
    """`EventBus` over Pub/Sub's REST API; honours PUBSUB_EMULATOR_HOST as the client library does."""

    def __init__(self, project: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.project = project
        self.timeout_s = timeout_s
        self._rest: GoogleRest | None = None
        self._lock = threading.Lock()

    def _client(self) -> GoogleRest:
        with self._lock:
            if self._rest is None:
                emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
                endpoint = f"http://{emulator}" if emulator else "pubsub.googleapis.com"
                self._rest = GoogleRest(endpoint, timeout_s=self.timeout_s)
            return self._rest

    def publish(self, topic: str, message: Message) -> str:
        path = topics.path(self.project, topic)
        what = f"publish to {path}"
        try:
            body = {"messages": [_wire(message)]}
        except (TypeError, ValueError) as exc:
            raise translate_error(exc, what) from exc
        # The default publish retry of the client runs for 60 s (infinite with ordering); a
        # function must rather fail within its own deadline and let Pub/Sub redeliver.
        deadline = time.monotonic() + self.timeout_s
        delay = 0.1
        while True:
            try:
                answer = self._client().call("POST", f"/v1/{path}:publish", what, body=body)
                ids = answer.get("messageIds") or []
                if not ids:
                    raise TransientError(f"{what}: no message id in the answer")
                return str(ids[0])
            except GoogleCallError as exc:
                if rpc_status(exc) not in RETRIED or time.monotonic() + delay > deadline:
                    raise translate_error(exc, what) from exc
            except TransientError:
                if time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2.0, 2.0)

    def close(self) -> None:
        with self._lock:
            self._rest = None


def _wire(message: Message) -> dict[str, object]:
    """The PubsubMessage JSON; refuses locally what the client library refuses locally."""
    if not isinstance(message.data, bytes):
        raise TypeError(f"data must be bytes, not {type(message.data).__name__}")
    attributes = dict(message.attributes)
    for key, value in attributes.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"attribute {key!r} must be a str to str, not {type(value).__name__}")
    wire: dict[str, object] = {"data": base64.b64encode(message.data).decode()}
    if attributes:
        wire["attributes"] = attributes
    return wire
