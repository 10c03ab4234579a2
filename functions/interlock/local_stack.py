"""Runner layer: where a local stack (`interlock dev up`) says it runs — its state file and project.

Shared by the stack, which writes `{root}/stack.json`, and the CLI, which reads it to reach the
stack with no environment set. A stack is "running" only while the process that wrote the file
lives, so a file left by a killed stack is never mistaken for a live one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOCAL_PROJECT = "demo-project"  # the one project of every local stack, the CLI and the functions
DEFAULT_ROOT = ".interlock/dev"
STATE_FILE = "stack.json"


def root_of(arg: str | None, env: Mapping[str, str] = os.environ) -> Path:
    return Path(arg or env.get("INTERLOCK_DEV_ROOT") or DEFAULT_ROOT)


def pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not a running stack
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def read_state(root: Path) -> dict[str, Any] | None:
    """The state file's content, whatever its stack's liveness; None when there is none."""
    try:
        doc = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def running(root: Path) -> dict[str, Any] | None:
    """The state of the stack running under `root` and ready, or None."""
    doc = read_state(root)
    if doc is None or not pid_alive(doc.get("owner_pid")) or not doc.get("ready", True):
        return None
    return doc


def exports(doc: Mapping[str, Any]) -> list[str]:
    """The shell lines that point the CLI (and any Google client) at this stack."""
    lines = []
    if doc.get("pubsub"):
        lines.append(f"export PUBSUB_EMULATOR_HOST={doc['pubsub']}")
    lines.append(f"export INTERLOCK_PROJECT={doc.get('project') or LOCAL_PROJECT}")
    if doc.get("ledger"):
        lines.append(f"export INTERLOCK_LEDGER={doc['ledger']}")
    lines.append(f"export INTERLOCK_DEV_ROOT={doc.get('root')}")
    return lines
