"""Dev tooling: Cloud Scheduler's local stand-in — a tick every few seconds, for `on_tick`.

Run by the local stack as its own process (`python -m interlock_dev.ticker`): it publishes a
`dev.interlock.tick.v1` on the ticks topic of the Pub/Sub emulator, as a Cloud Scheduler job with
a Pub/Sub target would (the job sets the ce-* attributes), or, without the emulator, posts it
straight to the function. A failed tick is only logged: the next one comes soon.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime

from interlock import topics
from interlock.core import binding
from interlock.core.codec import encode
from interlock.core.events import Tick

SOURCE = "//interlock/dev/ticker"


def send_tick(project: str, pubsub: str | None, function_url: str | None) -> None:
    tick, now, event_id = Tick(schedule="local"), datetime.now(UTC), uuid.uuid4().hex
    if pubsub:
        from interlock.adapters.pubsub import PubSubEventBus

        os.environ["PUBSUB_EMULATOR_HOST"] = pubsub
        message = binding.payload_message(tick, SOURCE, event_id, now)
        PubSubEventBus(project).publish(topics.path(project, topics.TICKS), message)
    elif function_url:
        from interlock.adapters.function_http import post_cloudevent

        event = binding.structured(binding.ce_type_of(tick), SOURCE, event_id, now, encode(tick))
        post_cloudevent(function_url, event)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", type=float, default=60.0, help="seconds between ticks")
    parser.add_argument("--project", required=True)
    parser.add_argument("--pubsub", help="host:port of the Pub/Sub emulator")
    parser.add_argument("--function", help="on_tick's URL, when there is no emulator")
    args = parser.parse_args(argv)
    while True:
        time.sleep(args.period)
        try:
            send_tick(args.project, args.pubsub, args.function)
        except Exception as err:
            print(f"tick not sent: {type(err).__name__}: {str(err)[:300]}", flush=True)


if __name__ == "__main__":
    main()
