"""Fakes: an in-memory `ModelRegistry` with Vertex's alias semantics; `tests/contract` keeps it honest.

Like Vertex: version ids count "1", "2", … per model; the first version carries the alias
"default", which moves like any alias but cannot be removed; adding an alias moves it off
whichever version held it; "-x" in the same request as "x" cancels out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from interlock.core.errors import InterlockError, PermanentError
from interlock.ports import ModelVersion

ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")


class FakeModelRegistry:
    def __init__(self) -> None:
        self.models: dict[str, dict[str, ModelVersion]] = {}
        self._failures: list[InterlockError] = []

    # --- seeding and fault helpers for tests -----------------------------------------------------

    def seed_version(
        self,
        model: str,
        artifact_uri: str,
        labels: Mapping[str, str] | None = None,
        aliases: Sequence[str] = (),
    ) -> ModelVersion:
        versions = self.models.setdefault(model, {})
        version_id = str(len(versions) + 1)
        versions[version_id] = ModelVersion(model, version_id, artifact_uri, (), dict(labels or {}))
        self._move(model, version_id, [*aliases, *(["default"] if version_id == "1" else [])], [])
        return versions[version_id]

    def fail_next(self, error: InterlockError, times: int = 1) -> None:
        """The next `times` calls raise `error`, as an unavailable service would make them."""
        self._failures.extend([error] * times)

    # --- the port -------------------------------------------------------------------------------

    def get_version(self, model: str, version: str) -> ModelVersion:
        self._maybe_fail()
        for found in self._versions(model).values():
            if version in (found.version, *found.aliases):
                return found
        raise PermanentError("version", f"get model {model}@{version}: NOT_FOUND")

    def list_versions(self, model: str) -> list[ModelVersion]:
        self._maybe_fail()
        return sorted(self._versions(model).values(), key=lambda v: int(v.version))

    def merge_aliases(
        self, model: str, version: str, add: Sequence[str], remove: Sequence[str]
    ) -> ModelVersion:
        target = self.get_version(model, version)
        if "default" in remove:
            raise PermanentError("aliases", "INVALID_ARGUMENT: the default alias cannot be removed")
        for alias in [*add, *remove]:
            if not ALIAS.fullmatch(alias):
                raise PermanentError(
                    "aliases", f"INVALID_ARGUMENT: invalid version alias {alias!r}"
                )
        both = set(add) & set(remove)
        self._move(model, target.version, [a for a in add if a not in both], [
            r for r in remove if r not in both
        ])  # fmt: skip
        return self.models[model][target.version]

    # --- internals ------------------------------------------------------------------------------

    def _versions(self, model: str) -> dict[str, ModelVersion]:
        if model not in self.models:
            raise PermanentError("model", f"model {model}: NOT_FOUND")
        return self.models[model]

    def _move(self, model: str, version: str, add: Sequence[str], remove: Sequence[str]) -> None:
        versions = self.models[model]
        for other_id, other in versions.items():
            if other_id != version and set(other.aliases) & set(add):
                kept = tuple(a for a in other.aliases if a not in add)
                versions[other_id] = replace(other, aliases=kept)
        current = versions[version]
        aliases = {a for a in current.aliases if a not in remove} | set(add)
        versions[version] = replace(current, aliases=tuple(sorted(aliases)))

    def _maybe_fail(self) -> None:
        if self._failures:
            raise self._failures.pop(0)
