"""CLI layer: shared plumbing — reading JSON files and failing with one clear line, never a traceback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from interlock.adapters.policy_yaml import read_policy
from interlock.core.errors import PermanentError

DEFAULT_POLICY = "interlock.yaml"


class CliError(Exception):
    """A user-facing failure: printed as `interlock: error: …`, exit status 1."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror or exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} {path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")


def policy_path(arg: str | None) -> str:
    return arg or os.environ.get("INTERLOCK_POLICY") or DEFAULT_POLICY


def load_policy_or_fail(arg: str | None):  # type: ignore[no-untyped-def]
    path = policy_path(arg)
    try:
        return read_policy(path)
    except PermanentError as err:
        fail(f"policy {path} is invalid:\n{getattr(err, 'reason', err)}")


def project(arg: str | None) -> str:
    value = arg or os.environ.get("INTERLOCK_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if value:
        return value
    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        return "local-project"
    fail(
        "no project: pass --project or set INTERLOCK_PROJECT (or PUBSUB_EMULATOR_HOST for the emulator)"
    )


def caller(arg: str | None) -> str | None:
    return arg or os.environ.get("INTERLOCK_USER") or os.environ.get("USER") or None
