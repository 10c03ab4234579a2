"""Local stack: the demo's last step — the two questions auditors and on-call engineers ask, put
to the running stack through the real CLI, as a user types them:

    interlock lineage churn --serving      what serves, and what exactly was it trained on?
    interlock history churn --at TIME      what served while v2 held the traffic?
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from interlock.core.codec import format_time

CLI_TIMEOUT_S = 60


def ask(root: str, *argv: str) -> str:
    """`interlock ARGV` against the stack under `root` (found by itself, no exports); stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    env.pop("PUBSUB_EMULATOR_HOST", None)
    env["INTERLOCK_DEV_ROOT"] = root
    binary = str(Path(sys.executable).with_name("interlock"))
    done = subprocess.run(
        [binary, *argv], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )
    if done.returncode != 0:
        raise RuntimeError(f"interlock {' '.join(argv)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def ask_json(root: str, *argv: str) -> Any:
    return json.loads(ask(root, *argv, "--json"))


def show(say: Callable[[str], None], root: str, model: str, at: datetime) -> None:
    for argv in (("lineage", model, "--serving"), ("history", model, "--at", format_time(at))):
        say(f"$ interlock {' '.join(argv)}")
        for line in ask(root, *argv).splitlines():
            say(f"  {line}")
