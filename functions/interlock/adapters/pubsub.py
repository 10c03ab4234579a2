"""Adapters layer: publish our events on Pub/Sub with the CloudEvents Pub/Sub binding.

`cloudevent_message` builds the message (pure); `PubSubEventBus` publishes it and waits for the
server's message id. `google.cloud.pubsub_v1` costs ~0.3 s to import, so it is imported on the
first publish, not at module import: paths that never publish never pay for it.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from interlock.adapters.google_errors import translate
from interlock.core.codec import encode, format_time
from interlock.core.errors import InterlockError, PermanentError, TransientError
from interlock.core.events import TYPE_OF, Outcome, outcome_type
from interlock.ports import Message

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
DEFAULT_TIMEOUT_S = 10.0


def cloudevent_attributes(
    ce_type: str, source: str, event_id: str, time: datetime
) -> dict[str, str]:
    """Binary-mode CloudEvent attributes; `content-type` is the binding's datacontenttype."""
    return {
        "ce-specversion": SPECVERSION,
        "ce-type": ce_type,
        "ce-source": source,
        "ce-id": event_id,
        "ce-time": format_time(time),
        "content-type": CONTENT_TYPE,
    }


def cloudevent_message(
    ce_type: str, source: str, event_id: str, time: datetime, payload: Mapping[str, Any]
) -> Message:
    """Our CloudEvent as a Pub/Sub message: ce-* attributes, data = the JSON payload."""
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Message(data=data, attributes=cloudevent_attributes(ce_type, source, event_id, time))


def payload_message(payload: object, source: str, event_id: str, time: datetime) -> Message:
    """A core payload (event or Outcome) as a message, its CloudEvents type chosen from the core."""
    if isinstance(payload, Outcome):
        ce_type = outcome_type(payload.kind)
    elif type(payload) in TYPE_OF:
        ce_type = TYPE_OF[type(payload)]
    else:
        raise TypeError(f"no CloudEvents type for {type(payload).__name__}")
    return cloudevent_message(ce_type, source, event_id, time, encode(payload))


def topic_path(project: str, topic: str) -> str:
    """Accept a short topic name or a full `projects/P/topics/T` path."""
    return topic if topic.startswith("projects/") else f"projects/{project}/topics/{topic}"


def translate_error(exc: Exception, what: str) -> InterlockError:
    """A client failure as TransientError (retry) or PermanentError (dead-letter)."""
    if isinstance(exc, InterlockError):
        return exc
    if isinstance(exc, TypeError | ValueError):
        # The client rejects a malformed message (non-str attribute, non-bytes data) locally.
        return PermanentError("", f"{what}: {type(exc).__name__}: {str(exc)[:300]}")
    return translate(exc, "", what)


class PubSubEventBus:
    """`EventBus` over google-cloud-pubsub; honours PUBSUB_EMULATOR_HOST (the client reads it)."""

    def __init__(self, project: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.project = project
        self.timeout_s = timeout_s
        self._client: Any = None
        self._retry: Any = None
        self._lock = threading.Lock()

    def _publisher(self) -> Any:
        with self._lock:
            if self._client is None:
                import google.cloud.pubsub_v1 as pubsub_v1
                from google.api_core import exceptions as gex
                from google.api_core import retry as gretry

                # The default publish retry runs for 60 s (infinite with ordering); a function
                # must rather fail within its own deadline and let Pub/Sub redeliver.
                self._retry = gretry.Retry(
                    predicate=gretry.if_exception_type(
                        gex.Aborted,
                        gex.Cancelled,
                        gex.DeadlineExceeded,
                        gex.InternalServerError,
                        gex.ResourceExhausted,
                        gex.ServiceUnavailable,
                        gex.Unknown,
                    ),
                    initial=0.1,
                    maximum=2.0,
                    multiplier=2.0,
                    timeout=self.timeout_s,
                )
                self._client = pubsub_v1.PublisherClient()
            return self._client

    def publish(self, topic: str, message: Message) -> str:
        path = topic_path(self.project, topic)
        try:
            client = self._publisher()
            future = client.publish(
                path,
                message.data,
                retry=self._retry,
                timeout=self.timeout_s,
                **dict(message.attributes),
            )
            # The retry deadline bounds the RPC; the margin covers batching and thread hand-off.
            return str(future.result(timeout=self.timeout_s + 5.0))
        except InterlockError:
            raise
        except concurrent.futures.TimeoutError as exc:
            raise TransientError(
                f"publish to {path}: no message id after {self.timeout_s}s"
            ) from exc
        except Exception as exc:
            raise translate_error(exc, f"publish to {path}") from exc

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.stop()
                self._client = None
