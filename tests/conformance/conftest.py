"""Conformance: the ports' contract suites against a real Google Cloud project (`make conformance`).

Runs only when INTERLOCK_CONFORMANCE_PROJECT names a project and application-default
credentials can act in it; otherwise nothing here is collected (`make test` never touches Google).
INTERLOCK_CONFORMANCE_ENDPOINT (an http:// stand-in) runs the same tests against the stand-in
instead, anonymously: `make test` does that with the open points, so this code cannot rot unseen.
Every resource is throw-away — named with this run's suffix, created here, and deleted at the end
of the session whatever happened. docs/operations.md ("Conformance") lists roles and cost.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

PROJECT_ENV = "INTERLOCK_CONFORMANCE_PROJECT"
if not os.environ.get(PROJECT_ENV):
    collect_ignore_glob = ["test_*.py"]


@dataclass
class Google:
    project: str
    region: str
    bucket: str | None  # for Vertex artifacts; the Vertex suite skips without one
    suffix: str  # this run's: in every resource name, so leftovers are easy to find
    credentials: object
    endpoint: str | None = None  # None: Google's; an http:// stand-in for a dry run
    cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def on_teardown(self, what: str, undo: Callable[[], None]) -> None:
        """Register `undo` (delete what was just created); run last-in first-out at the end."""
        self.cleanups.append((what, undo))


@pytest.fixture(scope="session")
def google() -> Iterator[Google]:
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    endpoint = os.environ.get("INTERLOCK_CONFORMANCE_ENDPOINT") or None
    if endpoint is None:
        scopes = ["https://www.googleapis.com/auth/cloud-platform"]
        credentials, _ = google.auth.default(scopes=scopes)
    else:
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    env = Google(
        project=os.environ[PROJECT_ENV],
        region=os.environ.get("INTERLOCK_CONFORMANCE_REGION", "us-central1"),
        bucket=os.environ.get("INTERLOCK_CONFORMANCE_BUCKET") or ("dry-run" if endpoint else None),
        suffix=uuid.uuid4().hex[:6],
        credentials=credentials,
        endpoint=endpoint,
    )
    try:
        yield env
    finally:
        failures = []
        for what, undo in reversed(env.cleanups):
            try:
                undo()
            except Exception as e:  # keep deleting the rest; report every leftover
                failures.append(f"{what}: {type(e).__name__}: {e}")
        assert not failures, "conformance resources NOT deleted (delete by hand):\n" + "\n".join(
            failures
        )
