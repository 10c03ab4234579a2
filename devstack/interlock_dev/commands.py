"""CLI layer: `interlock dev up|down|land|events` — the local stack from a terminal."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from interlock.cli.common import fail
from interlock_dev.processes import kill_session

DEFAULT_ROOT = ".interlock/dev"


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM (from `dev down`) unwinds like Ctrl-C, so the stack's own cleanup runs.
    raise KeyboardInterrupt


def up_command(args: Any) -> int:
    from interlock_dev.stack import LocalStack

    signal.signal(signal.SIGTERM, _terminate)
    stack = LocalStack(
        Path(args.root),
        airflow=not args.no_airflow,
        pubsub=False if args.no_pubsub else None,
        airflow_version=args.airflow,
    )
    print(f"starting the local stack under {args.root} (logs in {args.root}/logs)")
    try:
        info = stack.start()
        print(
            f"ready: land data with `interlock dev land FILE`; predictions at {info.service_url()}/predict"
        )
        print("Ctrl-C (or `interlock dev down`) stops everything")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping…")
    except RuntimeError as err:
        fail(str(err))
    finally:
        stack.stop()
        print("stopped: no process left behind")
    return 0


def _stack_info(root: str) -> Any:
    """The running stack `dev up` recorded under `root`, or one clear line saying there is none."""
    from interlock_dev.stack import StackInfo

    try:
        return StackInfo.load(Path(root))
    except RuntimeError as err:
        fail(str(err))


def down_command(args: Any) -> int:
    info = _stack_info(args.root)
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.owner_pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(info.owner_pid):
        time.sleep(0.2)
    for pgid in info.pgids:  # the owner died without cleaning up: end what it started
        kill_session(pgid)
    with contextlib.suppress(OSError):
        (Path(args.root) / "stack.json").unlink()
    print("local stack stopped")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def land_command(args: Any) -> int:
    from interlock.core.errors import InterlockError
    from interlock_dev.deliver import land

    source = Path(args.file)
    if not source.is_file():
        fail(f"no such file: {source}")
    info = _stack_info(args.root)
    try:
        stored = land(info, source, args.bucket, args.name or f"churn/incoming/{source.name}")
    except (InterlockError, OSError, ValueError) as err:
        fail(str(err))
    print(f"landed {stored.uri} ({stored.size} bytes); notification sent")
    return 0


def events_command(args: Any) -> int:
    from interlock import topics
    from interlock.adapters.bus_file import read_events

    info = _stack_info(args.root)
    if info.pubsub:
        from interlock_dev.pubsub_admin import PubSubAdmin

        os.environ["PUBSUB_EMULATOR_HOST"] = info.pubsub
        admin = PubSubAdmin(info.project)
        for topic in (topics.DECISIONS, topics.DEAD_LETTER):
            for pulled in admin.pull(f"{topic}-tail", max_messages=100):
                print(
                    f"{topic}: {pulled.message.attributes.get('ce-type', '')} {pulled.message.data.decode()[:300]}"
                )
        admin.close()
        return 0
    for entry in read_events(info.bus.removeprefix("file:")):
        print(f"{entry['topic']}: {entry['data']}")
    return 0
