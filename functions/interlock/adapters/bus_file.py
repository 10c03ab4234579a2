"""Adapters layer: an EventBus that appends to a JSON Lines file — the local stack's bus when no
Pub/Sub emulator is installed, so outcomes and dead letters stay visible (`interlock dev events`)."""

from __future__ import annotations

import base64
import fcntl
import json
from pathlib import Path

from interlock.ports import Message


class FileEventBus:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def publish(self, topic: str, message: Message) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({
            "topic": topic,
            "attributes": dict(message.attributes),
            "data": base64.b64encode(message.data).decode(),
        })  # fmt: skip
        with self.path.open("a", encoding="utf-8") as out:
            # Several function processes append at once: one locked write per line.
            fcntl.flock(out, fcntl.LOCK_EX)
            out.write(line + "\n")
            out.flush()
            position = out.tell()
        return str(position)


def read_events(path: str | Path, topic_suffix: str | None = None) -> list[dict[str, object]]:
    """Every message published so far, decoded (data as JSON when it is JSON)."""
    file = Path(path)
    if not file.exists():
        return []
    out = []
    for line in file.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if topic_suffix and not str(entry["topic"]).endswith(topic_suffix):
            continue
        raw = base64.b64decode(entry["data"])
        try:
            entry["data"] = json.loads(raw)
        except ValueError:
            entry["data"] = raw.decode(errors="replace")
        out.append(entry)
    return out
