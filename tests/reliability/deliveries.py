"""What a message published to the rig becomes: the key the function records it under, the event
id its dead letter names, and the dead letters that reached the topic (counted per event id)."""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from interlock import topics
from interlock.core import keys
from interlock.core.errors import PermanentError
from interlock.core.events import PUBSUB_PUBLISHED
from interlock.core.inbound import parse_cloudevent
from interlock.core.keys import idempotency_key
from interlock.ports import Message
from interlock_dev.pubsub_admin import PubSubAdmin
from interlock_dev.stack import PROJECT


@dataclass(frozen=True)
class Delivery:
    """A published message as the function will see it: the key it records the message under,
    the event id its dead letter names, and the parser's refusal (None when it parses)."""

    key: str
    event_id: str
    refused: PermanentError | None


def pushed_event(topic: str, message_id: str, message: Message) -> tuple[dict[str, str], Any]:
    """The CloudEvent functions-framework makes of the emulator's push: (attributes, data)."""
    attributes = {"specversion": "1.0", "type": PUBSUB_PUBLISHED, "id": message_id,
                  "source": f"//pubsub.googleapis.com/projects/{PROJECT}/topics/{topic}"}  # fmt: skip
    data = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message_id,
        }
    }
    return attributes, data


def invalid_key(attributes: Mapping[str, str]) -> str:
    return keys.invalid_key(attributes.get("source", ""), attributes.get("id", "unknown"))


def delivery_of(topic: str, message_id: str, message: Message) -> Delivery:
    """Parsed as the function parses it (an event for another function is not foreseen here)."""
    attributes, data = pushed_event(topic, message_id, message)
    try:
        event = parse_cloudevent(attributes, data)
    except PermanentError as refused:
        return Delivery(invalid_key(attributes), message_id, refused)
    return Delivery(idempotency_key(event), event.id, None)


class DeadLetterWatch:
    """What reached the dead-letter topic since the watch began, counted per event id."""

    def __init__(self, admin: PubSubAdmin, subscription: str) -> None:
        self.admin = admin
        self.subscription = subscription
        admin.ensure_subscription(subscription, topics.DEAD_LETTER)
        self.seen: Counter[str] = Counter()

    def copies(self, event_ids: Iterable[str], timeout_s: float = 30) -> dict[str, int]:
        """Copies per event id: pulled until each has come (or time is up), then once more, so
        a second copy right behind the first is counted too."""
        wanted = list(event_ids)
        deadline = time.monotonic() + timeout_s
        while not all(self.seen[i] for i in wanted) and time.monotonic() < deadline:
            self._pull()
        self._pull()
        return {i: self.seen[i] for i in wanted}

    def _pull(self) -> None:
        for pulled in self.admin.pull(self.subscription, max_messages=100, wait_s=0.5):
            self.seen[pulled.message.attributes.get("interlock-event-id", "")] += 1
