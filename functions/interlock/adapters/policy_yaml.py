"""Adapters layer: read a policy file (YAML) into the core's validated Policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interlock.core.policy import Policy, PolicyError
from interlock.core.policy_load import load_policy

MAX_BYTES = 1 << 20  # 1 MiB: the functions hold the parsed policy in 512 MiB with room to spare


def _loader(duplicates: list[str]) -> Any:
    """A safe loader that notes every duplicated key (PyYAML alone keeps the last, silently)."""
    import yaml

    # libyaml's parser when PyYAML was built with it (the wheels are): the same safe
    # constructor, parsed in C, ~10x faster than the pure-Python one on a cold start.
    base: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader

    class StrictLoader(base):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue  # `<<:` merges may be overridden: that is what they are for
                key = key_node.value
                if key in seen:
                    mark = key_node.start_mark
                    first = seen[key].start_mark
                    duplicates.append(
                        f"line {mark.line + 1}, column {mark.column + 1}: duplicate key "
                        f"{key[:60]!r} (first at line {first.line + 1}; YAML would keep only the last)"
                    )
                else:
                    seen[key] = key_node
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def read_policy(path: str | Path) -> Policy:
    """Every problem is a PolicyError line with a path; a missing or unparsable file too."""
    import yaml

    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise PolicyError([f"{file}: cannot read ({exc.strerror or exc})"]) from None
    if len(raw) > MAX_BYTES:
        raise PolicyError([f"{file}: {len(raw) / 1e6:.1f} MB is more than a policy may be (1 MiB)"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            [f"{file}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"]
        ) from None
    duplicates: list[str] = []
    try:
        data = yaml.load(text, Loader=_loader(duplicates))  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise PolicyError([f"{file}: {where}: {problem}"]) from None
    found = [f"{file}: {d}" for d in duplicates]
    try:
        policy = load_policy(data)
    except PolicyError as err:
        raise PolicyError(found + list(err.problems)) from None
    if found:
        raise PolicyError(found)
    return policy
