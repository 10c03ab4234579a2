"""CLI layer: shared plumbing — reading JSON files and failing with one clear line, never a traceback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from interlock.adapters.policy_yaml import read_policy
from interlock.core.errors import PermanentError
from interlock.core.policy import PolicyError
from interlock.core.text import one_line

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
    except PolicyError as err:
        fail(f"policy {path} is invalid:\n  " + "\n  ".join(err.problems))


def open_ledger(spec: str, project: str | None) -> Any:
    """The ledger a spec names; a sqlite path that does not exist is a typo, never a new ledger."""
    from interlock.bootstrap import ledger_from

    if spec.startswith("sqlite:"):
        path = Path(spec.removeprefix("sqlite:"))
        if not path.is_file():
            fail(
                f"no ledger at {path}: check the path (a local stack's is "
                "`.interlock/dev/ledger.db`; `interlock dev up` creates it)"
            )
    elif spec == "firestore" and not project:
        fail("no project for the Firestore ledger: pass --project or set INTERLOCK_PROJECT")
    try:
        return ledger_from(spec, project or "", os.environ)
    except PermanentError:
        fail(f"--ledger {one_line(spec, 80)!r}: expected 'firestore' or 'sqlite:PATH'")


def caller(arg: str | None) -> str | None:
    return arg or os.environ.get("INTERLOCK_USER") or os.environ.get("USER") or None
