"""Fakes: an in-memory EventBus that keeps every published message per topic."""

from __future__ import annotations

import json
import threading
from typing import Any

from interlock.ports import Message


class FakeEventBus:
    def __init__(self) -> None:
        self.topics: dict[str, list[Message]] = {}
        self._lock = threading.Lock()

    def publish(self, topic: str, message: Message) -> str:
        with self._lock:
            sent = self.topics.setdefault(topic, [])
            sent.append(message)
            return str(len(sent))

    def payloads(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(m.data) for m in self.topics.get(topic, [])]

    def types(self, topic: str) -> list[str]:
        return [m.attributes.get("ce-type", "") for m in self.topics.get(topic, [])]
