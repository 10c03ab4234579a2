"""Adapters layer: idempotent Pub/Sub topics and subscriptions for the local stack and tests.

Creating converges: an existing subscription gets the requested push endpoint, ack deadline,
retry and dead-letter policy, so a restarted local stack on new ports re-points its pushes.
Message ordering is never enabled: the emulator wedges when ordering meets a dead-letter policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interlock.adapters.pubsub import translate_error
from interlock.core.errors import InterlockError
from interlock.ports import Message
from interlock.topics import path as topic_path


def subscription_path(project: str, subscription: str) -> str:
    if subscription.startswith("projects/"):
        return subscription
    return f"projects/{project}/subscriptions/{subscription}"


def push_endpoint(base_url: str, project: str, topic: str) -> str:
    """functions-framework reads the topic from this path into the CloudEvent's source."""
    return f"{base_url.rstrip('/')}/{topic_path(project, topic)}"


@dataclass(frozen=True)
class DeliveryPolicy:
    ack_deadline_s: int = 10
    min_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    # Without a dead-letter topic a failing message is redelivered forever.
    dead_letter_topic: str | None = None
    max_delivery_attempts: int = 5


@dataclass(frozen=True)
class Pulled:
    message_id: str
    message: Message
    delivery_attempt: int


class PubSubAdmin:
    """Topic and subscription management; honours PUBSUB_EMULATOR_HOST like the clients do."""

    def __init__(self, project: str, timeout_s: float = 10.0) -> None:
        self.project = project
        self.timeout_s = timeout_s
        self._publisher: Any = None
        self._subscriber: Any = None

    def _clients(self) -> tuple[Any, Any]:
        if self._publisher is None:
            import google.cloud.pubsub_v1 as pubsub_v1

            self._publisher = pubsub_v1.PublisherClient()
            self._subscriber = pubsub_v1.SubscriberClient()
        return self._publisher, self._subscriber

    def ensure_topic(self, topic: str) -> str:
        from google.api_core import exceptions as gex

        path = topic_path(self.project, topic)
        publisher, _ = self._clients()
        try:
            publisher.create_topic(request={"name": path}, timeout=self.timeout_s)
        except gex.AlreadyExists:
            pass
        except Exception as exc:
            raise translate_error(exc, f"create topic {path}") from exc
        return path

    def ensure_subscription(
        self,
        name: str,
        topic: str,
        policy: DeliveryPolicy = DeliveryPolicy(),
        push_to: str | None = None,
    ) -> str:
        """A push subscription when `push_to` is an endpoint URL, else a pull subscription."""
        from google.api_core import exceptions as gex
        from google.protobuf import duration_pb2, field_mask_pb2

        path = subscription_path(self.project, name)
        _, subscriber = self._clients()
        body: dict[str, Any] = {
            "name": path,
            "topic": topic_path(self.project, topic),
            "ack_deadline_seconds": policy.ack_deadline_s,
            "retry_policy": {
                "minimum_backoff": _duration(duration_pb2, policy.min_backoff_s),
                "maximum_backoff": _duration(duration_pb2, policy.max_backoff_s),
            },
            "push_config": {"push_endpoint": push_to} if push_to else {},
        }
        if policy.dead_letter_topic is not None:
            body["dead_letter_policy"] = {
                "dead_letter_topic": topic_path(self.project, policy.dead_letter_topic),
                "max_delivery_attempts": policy.max_delivery_attempts,
            }
        try:
            try:
                subscriber.create_subscription(request=body, timeout=self.timeout_s)
            except gex.AlreadyExists:
                mask = ["ack_deadline_seconds", "retry_policy", "push_config", "dead_letter_policy"]
                update = {k: v for k, v in body.items() if k != "topic"}
                subscriber.update_subscription(
                    request={
                        "subscription": update,
                        "update_mask": field_mask_pb2.FieldMask(paths=mask),
                    },
                    timeout=self.timeout_s,
                )
        except InterlockError:
            raise
        except Exception as exc:
            raise translate_error(exc, f"create subscription {path}") from exc
        return path

    def pull(self, subscription: str, max_messages: int = 10, wait_s: float = 0.5) -> list[Pulled]:
        """Pull what arrives within `wait_s` and ack it (tests and `interlock dev` tail topics)."""
        from google.api_core import exceptions as gex

        path = subscription_path(self.project, subscription)
        _, subscriber = self._clients()
        try:
            # An empty pull is held open server-side (~10 s on the emulator); the deprecated
            # return_immediately flag would warn, so a short deadline bounds it instead.
            resp = subscriber.pull(
                request={"subscription": path, "max_messages": max_messages},
                retry=None,
                timeout=wait_s,
            )
            received = list(resp.received_messages)
            if received:
                subscriber.acknowledge(
                    request={"subscription": path, "ack_ids": [r.ack_id for r in received]},
                    timeout=self.timeout_s,
                )
        except gex.DeadlineExceeded:
            return []
        except Exception as exc:
            raise translate_error(exc, f"pull {path}") from exc
        return [
            Pulled(
                message_id=r.message.message_id,
                message=Message(data=r.message.data, attributes=dict(r.message.attributes)),
                delivery_attempt=r.delivery_attempt,
            )
            for r in received
        ]

    def close(self) -> None:
        if self._subscriber is not None:
            self._subscriber.close()
        if self._publisher is not None:
            self._publisher.stop()
        self._publisher = self._subscriber = None


def _duration(duration_pb2: Any, seconds: float) -> Any:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))
