"""Core layer: the policy checks beyond shape — what parses but would hurt in production.

`review` runs inside `load_policy` on the raw document, the problems found so far and the parsed
parts: it adds problems (a policy that does nothing, durations without units, a prefix or glob
that can never match, two models on one service, a conf naming no model, windows and ages of
zero, a threshold a fraction can never meet, a policy too large) and puts the earlier ones in
words (no regular expressions). `warnings` are for `interlock policy check` only: metric names no
producer of this project emits.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping, Sequence
from typing import Any

MAX_ENTRIES = 1000  # pipelines + models: beyond this a policy outgrows the functions' memory
GATE_METRICS = ("accuracy", "auc", "latency_p95_ms")  # what dags/interlock_dag/evaluate.py emits
LIVE_METRICS = ("error_rate", "accuracy", "latency_p95_ms", "request_count")  # live monitors
FRACTIONS = ("accuracy", "auc", "error_rate", "precision", "recall", "f1")

_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict, _repr.maxlevel = 60, 60, 6, 6, 3

# What a name must look like, in words (keyed by the field that failed its pattern).
_WORDS = {
    ".name": "lower-case letters, digits and dashes, starting with a letter (at most 63)",
    ".bucket": "a bucket name alone, without gs:// or a path (lower-case letters, digits, . - _)",
    ".dag_id": "letters, digits, dots, dashes and underscores (no spaces)",
    ".vertex_model": "projects/PROJECT/locations/REGION/models/ID, with no @version or @alias",
    ".service": "projects/PROJECT/locations/REGION/services/NAME (the full name, not just NAME)",
}


def shown(value: object) -> str:
    """A value as a message shows it: bounded, whatever a hostile file nests or repeats."""
    return _repr.repr(value)


def _durations(root: Mapping[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []

    def take(m: Any, path: str, keys: Sequence[str]) -> None:
        if isinstance(m, dict):
            found.extend((f"{path}.{k}", m[k]) for k in keys if k in m)

    for i, p in enumerate(_as_list(root.get("pipelines"))):
        take(p, f"pipelines[{i}]", ("debounce",))
    for i, m in enumerate(_as_list(root.get("models"))):
        if isinstance(m, dict):
            take(
                m.get("guard"),
                f"models[{i}].guard",
                ("cooldown", "rollback_period", "guard_window"),
            )
            canary = m.get("canary")
            smoke = canary.get("smoke") if isinstance(canary, dict) else None
            take(smoke, f"models[{i}].canary.smoke", ("timeout",))
    ages = root.get("max_event_age")
    take(ages, "max_event_age", list(ages) if isinstance(ages, dict) else [])
    take(root.get("pending"), "pending", ("give_up_after", "retry_first", "retry_max"))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _reworded(item: str) -> str:
    path, _, message = item.partition(": ")
    if " does not match ^" in message:
        for suffix, words in _WORDS.items():
            if path.endswith(suffix):
                return f"{path}: {message.split(' does not match ', 1)[0]} is not {words}"
    return item


def review(
    root: Mapping[str, Any],
    items: Sequence[str],
    pipelines: Sequence[Any],
    models: Sequence[Any],
    max_age_s: Mapping[str, int],
) -> list[str]:
    """The problems so far, in words, followed by the checks of this module."""
    out = [
        _reworded(i)
        for i in items
        # `x-…` keys at the top are free for YAML anchors shared by the entries below.
        if not (i.startswith("policy.x-") and ": unknown key" in i)
    ]
    if isinstance(root.get("version"), str):
        out = [i for i in out if not i.startswith("version: ")]
        out.append(f"version: write 1, a number, not the string {shown(root['version'])}")
    if not root.get("pipelines") and not root.get("models"):
        out.append(
            "policy: names no pipelines and no models: every landing would be ignored and every "
            "model event dead-lettered (see interlock.yaml for a complete policy)"
        )
    if len(_as_list(root.get("pipelines"))) + len(_as_list(root.get("models"))) > MAX_ENTRIES:
        out.append(f"policy: more than {MAX_ENTRIES} pipelines and models: split it per project")
    for path, value in _durations(root):
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(
                f"{path}: {shown(value)} has no unit (a bare number is read as seconds, and YAML "
                f'reads 1:30 as 90): write e.g. "{value}s" or "30m"'
            )
    out.extend(_pipeline_problems(pipelines, {m.name for m in models}))
    out.extend(_model_problems(models))
    for kind, seconds in max_age_s.items():
        if seconds == 0:
            out.append(f"max_event_age.{kind}: 0s makes every such event expire on arrival")
    return out


def _pipeline_problems(pipelines: Sequence[Any], model_names: set[str]) -> list[str]:
    out = []
    for i, p in enumerate(pipelines):
        where = f"pipelines[{i}]"
        if p.prefix.startswith("/"):
            out.append(
                f"{where}.prefix: Cloud Storage names never start with '/': write {shown(p.prefix.lstrip('/'))}"
            )
        if p.prefix and p.glob.startswith(p.prefix):
            rest = p.glob[len(p.prefix) :] or "*"
            out.append(
                f"{where}.glob: matches the name after the prefix, so {shown(p.glob)} can never "
                f"match: write {shown(rest)}"
            )
        model = p.conf.get("model")
        if model is not None and "{" not in model and model_names and model not in model_names:
            known = ", ".join(sorted(model_names))
            out.append(
                f"{where}.conf.model: {shown(model)} is no model of this policy (models: {known}):"
                " its evaluation would be dead-lettered after a whole training run"
            )
    return out


def _model_problems(models: Sequence[Any]) -> list[str]:
    out = []
    seen: dict[str, int] = {}
    for i, m in enumerate(models):
        where = f"models[{i}]"
        if m.service and m.service in seen:
            out.append(
                f"{where}.service: models[{seen[m.service]}] is already served by {m.service}: "
                "two canaries would fight over one service's traffic"
            )
        seen.setdefault(m.service, i)
        if m.guard.guard_window_s == 0:
            out.append(f"{where}.guard.guard_window: 0s: the guard would never act on a window")
        for section, rules in (("gate.metrics", m.gate.rules), ("guard.thresholds", m.guard.rules)):
            for rule in rules:
                if rule.metric in FRACTIONS and not rule.relative and not 0 <= rule.value <= 1:
                    out.append(
                        f"{where}.{section}.{rule.metric}: {rule.metric} is a fraction from 0 to 1,"
                        f" so {rule.op} {rule.value:g} {'can never pass' if rule.op == '>=' else 'always passes'}"
                        f" (did you mean {rule.value / 100:g}?)"
                    )
    return out


def warnings(policy: Any) -> list[str]:
    """Metric names no producer emits: every evaluation would be rejected (`metric missing`),
    every live window inconclusive, so the guard would never roll back."""
    out = []
    for i, m in enumerate(policy.models):
        for section, rules, known in (
            ("gate.metrics", m.gate.rules, GATE_METRICS),
            ("guard.thresholds", m.guard.rules, LIVE_METRICS),
        ):
            for rule in rules:
                if rule.metric not in known:
                    out.append(
                        f"models[{i}].{section}.{rule.metric}: no producer here emits "
                        f"{shown(rule.metric)} (known: {', '.join(known)})"
                    )
    return sorted(set(out), key=out.index)
