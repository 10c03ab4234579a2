"""CLI layer: which project, ledger and bus a command talks to — flags, then the environment,
then a local stack running under `$INTERLOCK_DEV_ROOT` (default `.interlock/dev`), found by itself.

One project everywhere: the emulator's project is the local stack's (`LOCAL_PROJECT`), so the
README's commands reach what `interlock dev up` started.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from interlock.local_stack import LOCAL_PROJECT, root_of, running


@dataclass(frozen=True)
class Target:
    project: str | None
    ledger: str | None  # "firestore", "sqlite:PATH", or None: no ledger known
    local: dict[str, Any] | None = (
        None  # the running local stack's state file, when it is the target
    )

    def function_url(self, function: str) -> str | None:
        """A local stack without Pub/Sub takes events straight at its functions' URLs."""
        if self.local is None or self.local.get("pubsub"):
            return None
        url = (self.local.get("functions") or {}).get(function)
        return str(url) if url else None

    @property
    def where(self) -> str:
        return f" (local stack under {self.local.get('root')})" if self.local else ""


def _local() -> dict[str, Any] | None:
    doc = running(root_of(None))
    if doc is None:
        return None
    emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
    if emulator and doc.get("pubsub") and emulator != doc.get("pubsub"):
        return None  # the user points at another emulator on purpose
    return doc


def resolve(project_arg: str | None = None, ledger_arg: str | None = None) -> Target:
    """Never fails: a missing project is reported by the command that needs one."""
    ledger = ledger_arg or os.environ.get("INTERLOCK_LEDGER")
    explicit = project_arg or os.environ.get("INTERLOCK_PROJECT")
    local = _local()
    if local is not None and explicit and explicit != local.get("project"):
        local = None
    if local is None and not explicit:
        explicit = os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not explicit and os.environ.get("PUBSUB_EMULATOR_HOST"):
            explicit = LOCAL_PROJECT
    if local is not None:
        if local.get("pubsub") and not os.environ.get("PUBSUB_EMULATOR_HOST"):
            os.environ["PUBSUB_EMULATOR_HOST"] = str(local["pubsub"])
        return Target(
            str(local.get("project") or LOCAL_PROJECT), ledger or local.get("ledger"), local
        )
    if ledger is None and explicit and not os.environ.get("PUBSUB_EMULATOR_HOST"):
        ledger = "firestore"
    return Target(explicit, ledger)
