"""CLI layer: `interlock dev up|down|env|land|events|reset` — the local stack from a terminal."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from interlock.cli.common import fail
from interlock.local_stack import exports, pid_alive, read_state, root_of, running
from interlock_dev.processes import kill_session

DEFAULT_ROOT = ".interlock/dev"
RESET = tuple(
    f"{db}{suffix}" for db in ("ledger.db", "standin.db") for suffix in ("", "-wal", "-shm")
) + ("buckets", "artifacts", "events.jsonl", "events.log", "airflow", "stack.json")


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM (from `dev down`) unwinds like Ctrl-C, so the stack's own cleanup runs.
    raise KeyboardInterrupt


def _policy(arg: str | None) -> Path:
    from interlock.adapters.policy_yaml import read_policy
    from interlock.core.policy import PolicyError
    from interlock_dev.stack import REPO

    path = Path(arg or os.environ.get("INTERLOCK_POLICY") or REPO / "interlock.yaml")
    try:
        read_policy(path)  # refuse before starting anything: the functions would refuse it too
    except PolicyError as err:
        fail(f"policy {path} is invalid:\n  " + "\n  ".join(err.problems))
    return path


def up_command(args: Any) -> int:
    from interlock_dev.stack import REPO, LocalStack, StackBusy

    root = root_of(args.root)
    if (other := running(root)) is not None:
        fail(f"a local stack already runs under {root} (pid {other.get('owner_pid')}): stop it "
             "with `interlock dev down`, or pick another --root")  # fmt: skip
    policy = _policy(getattr(args, "policy", None))
    signal.signal(signal.SIGTERM, _terminate)
    dags = getattr(args, "dags", None)
    if dags and not Path(dags).is_dir():
        fail(f"--dags {dags}: not a directory")
    stack = LocalStack(
        root,
        policy=policy,
        dags=Path(dags) if dags else REPO / "dags",
        airflow=not args.no_airflow,
        pubsub=False if args.no_pubsub else None,
        airflow_version=args.airflow,
    )
    print(f"starting the local stack under {root} (logs in {root}/logs), policy {policy}")
    try:
        info = stack.start()
        print(
            f"ready: land data with `interlock dev land FILE`; predictions at {info.service_url()}/predict"
        )
        print("the CLI finds this stack from this directory; elsewhere, or for other clients:")
        for line in exports(json.loads(json.dumps(info.__dict__))):
            print(f"  {line}")
        print("Ctrl-C (or `interlock dev down`) stops everything", flush=True)
        while True:
            time.sleep(3600)
    except StackBusy as err:
        fail(str(err))
    except KeyboardInterrupt:
        print("\nstopping…")
    except RuntimeError as err:
        stack.stop()
        fail(str(err))
    finally:
        stack.stop()
    print("stopped: no process left behind")
    return 0


def _stack_info(root_arg: str | None) -> Any:
    """The running stack `dev up` recorded under the root, or one clear line saying there is none."""
    from interlock_dev.stack import StackInfo

    root = root_of(root_arg)
    try:
        return StackInfo.load(root)
    except RuntimeError as err:
        fail(str(err))


def down_command(args: Any) -> int:
    root = root_of(args.root)
    doc = read_state(root)
    if doc is None or not pid_alive(doc.get("owner_pid")):
        fail(f"no local stack running under {root}: nothing to stop")
    owner = int(doc["owner_pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(owner, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pid_alive(owner):
        time.sleep(0.2)
    for pgid in doc.get("pgids") or []:  # the owner died without cleaning up: end what it started
        kill_session(int(pgid))
    print(f"local stack under {root} stopped")
    return 0


def env_command(args: Any) -> int:
    root = root_of(args.root)
    doc = running(root)
    if doc is None:
        fail(f"no local stack running under {root}: start one with `interlock dev up`")
    for line in exports(doc):
        print(line)
    return 0


def reset_command(args: Any) -> int:
    root = root_of(args.root)
    if running(root) is not None:
        fail(f"the local stack under {root} is running: `interlock dev down` first")
    removed = []
    for name in RESET:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(name)
    print(f"cleared {', '.join(removed) if removed else 'nothing (already clean)'} under {root}")
    return 0


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
    """Every outcome and dead letter so far: new messages are drained into `{root}/events.log`
    (the tail subscriptions are acked once), and the whole log is printed, so nothing shown is
    lost and a second call shows it again."""
    from interlock import topics
    from interlock.adapters.bus_file import read_events

    info = _stack_info(args.root)
    if not info.pubsub:
        for entry in read_events(info.bus.removeprefix("file:")):
            print(_line(str(entry["topic"]), dict(entry.get("attributes") or {}), entry["data"]))  # type: ignore[call-overload]
        return 0
    from interlock_dev.pubsub_admin import PubSubAdmin

    log = Path(info.root) / "events.log"
    os.environ["PUBSUB_EMULATOR_HOST"] = info.pubsub
    admin = PubSubAdmin(info.project)
    try:
        with log.open("a", encoding="utf-8") as out:
            for topic in (topics.DECISIONS, topics.DEAD_LETTER):
                while pulled := admin.pull(f"{topic}-tail", max_messages=100):
                    for p in pulled:
                        entry = {"topic": topic, "attributes": p.message.attributes,
                                 "data": p.message.data.decode(errors="replace")}  # fmt: skip
                        out.write(json.dumps(entry) + "\n")
    finally:
        admin.close()
    with contextlib.suppress(OSError), log.open(encoding="utf-8") as lines:
        for raw in lines:
            entry = json.loads(raw)
            print(_line(entry["topic"], entry["attributes"], entry["data"]))
    return 0


def _line(topic: str, attributes: dict[str, str], data: Any) -> str:
    """One readable line: an outcome's kind, subject and reasons; a dead letter's reason."""
    from interlock.core.text import one_line

    if "interlock-reason" in attributes:
        return (
            f"{topic}: dead letter {attributes.get('ce-type', '')} — "
            f"{one_line(attributes['interlock-reason'], 500)}"
        )
    try:
        doc = json.loads(data) if isinstance(data, str) else data
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "kind" in doc:
        reasons = "; ".join(str(r) for r in doc.get("reasons") or [])
        return one_line(f"{topic}: {doc['kind']:<13} {doc.get('subject', '')} — {reasons}", 1000)
    return one_line(f"{topic}: {attributes.get('ce-type', '')} {data}", 1000)
