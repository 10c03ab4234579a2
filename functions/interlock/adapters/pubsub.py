"""Adapters layer: publish messages (built by `core.binding`) on Pub/Sub.

`PubSubEventBus` publishes and waits for the server's message id. `google.cloud.pubsub_v1` costs ~0.3 s to import, so it is imported on the
first publish, not at module import: paths that never publish never pay for it.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

from interlock import topics
from interlock.adapters.google_errors import translate
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
        path = topics.path(self.project, topic)
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
