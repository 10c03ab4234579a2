"""Dev tooling: what goes into a running local stack — landed objects and our own events.

Through the Pub/Sub emulator when the stack has one (as Google Cloud delivers them), else posted
straight to the function as a CloudEvent (Eventarc's shapes).
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from interlock import topics
from interlock.adapters.function_http import post_cloudevent
from interlock.core import binding
from interlock.core.binding import Message
from interlock.core.codec import encode
from interlock.core.events import GCS_FINALIZED
from interlock.core.kinds import kind_of
from interlock_dev.bucket import LocalBucket, StoredObject
from interlock_dev.stack import StackInfo


def land(info: StackInfo, source: Path, bucket: str, name: str) -> StoredObject:
    """Copy a file into the local bucket and send the notification GCS would send."""
    stored = LocalBucket(Path(info.root) / "buckets").put(bucket, name, source)
    data, attributes = stored.notification()
    if info.pubsub:
        _publish(info, topics.DATA, Message(data, attributes))
    else:
        # Eventarc's direct Cloud Storage shape, posted to the function.
        event = binding.structured(
            GCS_FINALIZED, f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            uuid.uuid4().hex, stored.created, stored.resource(), subject=f"objects/{name}",
        )  # fmt: skip
        post_cloudevent(info.functions["on_data_landed"], event)
    return stored


def publish(info: StackInfo, payload: object) -> None:
    """One of our events into the stack: on its topic, or straight to its function."""
    source, event_id, now = "//interlock/dev", uuid.uuid4().hex, datetime.now(UTC)
    ce_type = binding.ce_type_of(payload)
    if info.pubsub:
        _publish(
            info, topics.topic_for(ce_type), binding.payload_message(payload, source, event_id, now)
        )
    else:
        function = kind_of(payload).function
        event = binding.structured(ce_type, source, event_id, now, encode(payload))
        post_cloudevent(info.functions[function], event)


def _publish(info: StackInfo, topic: str, message: Message) -> None:
    from interlock.adapters.pubsub import PubSubEventBus

    os.environ["PUBSUB_EMULATOR_HOST"] = info.pubsub or ""
    PubSubEventBus(info.project).publish(topics.path(info.project, topic), message)
