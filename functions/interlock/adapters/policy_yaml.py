"""Adapters layer: read a policy file (YAML) into the core's validated Policy."""

from __future__ import annotations

from pathlib import Path

from interlock.core.policy import Policy, PolicyError
from interlock.core.policy_load import load_policy


def read_policy(path: str | Path) -> Policy:
    """Every problem is a PolicyError line with a path; a missing or unparsable file too."""
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([f"{file}: cannot read ({exc.strerror or exc})"]) from None
    try:
        # libyaml's parser when PyYAML was built with it (the wheels are): the same safe
        # constructor, parsed in C, ~10x faster than the pure-Python one on a cold start.
        if yaml.__with_libyaml__:
            data = yaml.load(text, Loader=yaml.CSafeLoader)
        else:
            data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise PolicyError([f"{file}: {where}: {problem}"]) from None
    return load_policy(data)
