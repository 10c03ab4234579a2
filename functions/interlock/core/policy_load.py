"""Core layer: the policy document (parsed YAML, plain dicts) validated into the policy model.

`load_policy` reports every problem with its path, e.g.
`models[0].gate.metrics.auc: expected ">= 0.8" or ">= champion - 0.01", got "big"`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from interlock.core import google_names, policy_lint
from interlock.core.freeze_load import freeze_windows
from interlock.core.kinds import AGE_KINDS
from interlock.core.policy import (
    PLACEHOLDER_RE,
    SERVICE_RE,
    Canary,
    FreezeWindow,
    Gate,
    Guard,
    ModelPolicy,
    Observe,
    Op,
    PendingPolicy,
    Pipeline,
    Policy,
    PolicyError,
    Rule,
    ServingSpec,
)
from interlock.core.policy_batch import debounce_problem, load_batch
from interlock.core.smoke_load import smoke

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
METRIC_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._\-]{1,220}$")
DAG_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
VERTEX_MODEL_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/models/[A-Za-z0-9_-]{1,128}$")
_RULE_RE = re.compile(
    r"^\s*(>=|<=)\s*(?:(champion)\s*(?:([+-])\s*([0-9.eE+-]+))?|([+-]?[0-9.eE+-]+))\s*$"
)
_DURATION_RE = re.compile(r"^\s*([0-9]+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
CONF_FIELDS = ("object", "bucket", "name", "generation", "md5", "size", "event_id", "pipeline")


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")


def _kind(value: Any) -> str:
    return (
        "a list"
        if isinstance(value, list)
        else "a mapping"
        if isinstance(value, dict)
        else policy_lint.shown(value)
    )


def _mapping(p: _Problems, value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        p.add(path, f"expected a mapping, got {_kind(value)}")
        return {}
    return value


def _unknown_keys(p: _Problems, value: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    for key in value:
        if key not in allowed:
            hint = ", ".join(sorted(allowed))
            p.add(f"{path}.{key}", f"unknown key (expected one of: {hint})")


def _string(
    p: _Problems,
    m: Mapping[str, Any],
    key: str,
    path: str,
    pattern: re.Pattern[str] | None = None,
    default: str | None = None,
) -> str:
    value = m.get(key, default)
    where = f"{path}.{key}"
    if value is None:
        p.add(where, "required")
        return ""
    if not isinstance(value, str):
        p.add(where, f"expected a string, got {_kind(value)}")
        return ""
    if pattern is not None and not pattern.match(value):
        p.add(where, f"{policy_lint.shown(value)} does not match {pattern.pattern}")
    return value


def _int(
    p: _Problems, m: Mapping[str, Any], key: str, path: str, default: int, lo: int, hi: int
) -> int:
    value = m.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        p.add(f"{path}.{key}", f"expected a whole number, got {_kind(value)}")
        return default
    if not lo <= value <= hi:
        p.add(f"{path}.{key}", f"must be between {lo} and {hi}, got {value}")
    return value


def _bool(p: _Problems, m: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = m.get(key, default)
    if not isinstance(value, bool):
        p.add(f"{path}.{key}", f"expected true or false, got {_kind(value)}")
        return default
    return value


def parse_duration(value: Any) -> int | None:
    """Seconds from `90`, `"90s"`, `"15m"`, `"1h"`, `"2d"`; None when it is not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return int(match.group(1)) * _UNITS[match.group(2)]
    return None


def _duration(p: _Problems, m: Mapping[str, Any], key: str, path: str, default: int) -> int:
    value = m.get(key, default)
    seconds = parse_duration(value)
    if seconds is None:
        p.add(
            f"{path}.{key}",
            f'expected a duration like "30s", "15m", "1h" or "2d", got {_kind(value)}',
        )
        return default
    return seconds


def parse_rule(metric: str, text: Any) -> Rule | None:
    if not isinstance(text, str):
        return None
    match = _RULE_RE.match(text)
    if not match:
        return None
    op_text, champion, sign, margin, absolute = match.groups()
    op: Op = ">=" if op_text == ">=" else "<="
    try:
        if champion:
            value = float(margin) * (-1 if sign == "-" else 1) if margin else 0.0
        else:
            value = float(absolute)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return Rule(metric=metric, op=op, value=value, relative=bool(champion))


def _rules(p: _Problems, value: Any, path: str, allow_relative: bool) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    example = '">= 0.8" or ">= champion - 0.01"' if allow_relative else '">= 0.8" or "<= 0.02"'
    for metric, spec in _mapping(p, value, path).items():
        where = f"{path}.{metric}"
        if not isinstance(metric, str) or not METRIC_RE.match(metric):
            p.add(where, f"metric name must match {METRIC_RE.pattern}")
            continue
        texts = spec if isinstance(spec, list) else [spec]
        parsed = [parse_rule(metric, t) for t in texts]
        for text, rule in zip(texts, parsed, strict=True):
            if rule is None:
                p.add(where, f"expected {example} style comparison, got {_kind(text)}")
            elif rule.relative and not allow_relative:
                p.add(where, f"live thresholds cannot be relative to the champion: {_kind(text)}")
            else:
                rules.append(rule)
        ops = {r.op for r in parsed if r is not None}
        if len(ops) > 1:
            p.add(where, "mixes >= and <=; a metric has one direction (higher or lower is better)")
    return tuple(rules)


def _pipeline(p: _Problems, raw: Any, path: str) -> Pipeline:
    m = _mapping(p, raw, path)
    known = {"name", "bucket", "prefix", "glob", "dag_id", "conf", "batch", "debounce"}
    _unknown_keys(p, m, path, known)
    if "debounce" in m:
        p.add(f"{path}.debounce", debounce_problem(m["debounce"]))
    conf: dict[str, str] = {}
    for key, value in _mapping(p, m.get("conf"), f"{path}.conf").items():
        where = f"{path}.conf.{key}"
        if not isinstance(value, str | int) or isinstance(value, bool):
            p.add(where, f"expected a string, got {_kind(value)}")
            continue
        text = str(value)
        for field in PLACEHOLDER_RE.findall(text):
            if field not in CONF_FIELDS:
                p.add(where, f"unknown placeholder {{{field}}} (allowed: {', '.join(CONF_FIELDS)})")
        conf[str(key)] = text
    return Pipeline(
        name=_string(p, m, "name", path, NAME_RE),
        bucket=_string(p, m, "bucket", path, BUCKET_RE),
        prefix=_string(p, m, "prefix", path, default=""),
        glob=_string(p, m, "glob", path, default="*"),
        dag_id=_string(p, m, "dag_id", path, DAG_ID_RE),
        conf=conf,
        batch=load_batch(p.add, m.get("batch"), f"{path}.batch"),
    )


def _serving(p: _Problems, raw: Any, path: str) -> ServingSpec:
    m = _mapping(p, raw, path)
    _unknown_keys(p, m, path, {"image", "env", "port"})
    env: dict[str, str] = {}
    for key, value in _mapping(p, m.get("env"), f"{path}.env").items():
        if not re.match(r"^[A-Z_][A-Z0-9_]*$", str(key)):
            p.add(f"{path}.env.{key}", "environment variable names are UPPER_SNAKE_CASE")
        elif key == "AIP_STORAGE_URI":
            p.add(f"{path}.env.{key}", "set by interlock from the model version's artifact")
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            p.add(f"{path}.env.{key}", f"expected a string, got {_kind(value)}")
        else:
            env[str(key)] = str(value)
    return ServingSpec(
        image=_string(p, m, "image", path),
        env=env,
        port=_int(p, m, "port", path, 8080, 1, 65535),
    )


def _gate(p: _Problems, raw: Any, path: str) -> Gate:
    m = _mapping(p, raw, path)
    _unknown_keys(p, m, path, {"metrics", "min_samples", "same_dataset"})
    rules = _rules(p, m.get("metrics"), f"{path}.metrics", allow_relative=True)
    if not m.get("metrics"):
        p.add(f"{path}.metrics", "name at least one metric the gate checks")
    return Gate(
        rules=rules,
        min_samples=_int(p, m, "min_samples", path, 0, 0, 10**12),
        same_dataset=_bool(p, m, "same_dataset", path, True),
    )


def _canary(p: _Problems, raw: Any, path: str) -> Canary:
    m = _mapping(p, raw, path)
    _unknown_keys(
        p,
        m,
        path,
        {"steps", "hold_windows", "min_samples", "approval_timeout", "on_approval_timeout",
         "smoke"},
    )  # fmt: skip
    steps, approve_before = _approvals(p, m.get("steps", [10, 50, 100]), f"{path}.steps")
    ok = (
        isinstance(steps, list)
        and steps
        and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 100 for s in steps)
    )
    if not ok or steps != sorted(set(steps)) or steps[-1] != 100:
        p.add(
            f"{path}.steps",
            f"expected strictly increasing percents ending at 100, got {policy_lint.shown(steps)}",
        )
        steps, approve_before = [100], ()
    timeout = _duration(p, m, "approval_timeout", path, 0) if "approval_timeout" in m else None
    if timeout is not None and not approve_before:
        p.add(f"{path}.approval_timeout", "no step needs approval (put `approve` in steps)")
    on_timeout = _choice(p, m, "on_approval_timeout", path, ("hold", "abort"))
    return Canary(
        steps=tuple(steps),
        hold_windows=_int(p, m, "hold_windows", path, 2, 1, 1000),
        min_samples=_int(p, m, "min_samples", path, 0, 0, 10**12),
        approve_before=approve_before,
        approval_timeout_s=timeout,
        on_approval_timeout=on_timeout,
        smoke=smoke(p, m.get("smoke"), f"{path}.smoke", parse_duration),
    )


def _approvals(p: _Problems, steps: Any, path: str) -> tuple[Any, tuple[int, ...]]:
    """`[10, 50, approve, 100]`: the percents, and which step indexes a human approves first."""
    if not isinstance(steps, list):
        return steps, ()
    percents: list[Any] = []
    before: list[int] = []
    for i, step in enumerate(steps):
        if step != "approve":
            percents.append(step)
            continue
        if not percents or i + 1 >= len(steps) or steps[i + 1] == "approve":
            p.add(path, f"`approve` goes between two traffic steps, got {policy_lint.shown(steps)}")
            continue
        before.append(len(percents))
    return percents, tuple(before)


def _guard(p: _Problems, raw: Any, path: str) -> Guard:
    m = _mapping(p, raw, path)
    keys = {
        "thresholds", "breaches", "of_windows", "min_samples", "on_inconclusive",
        "inconclusive_limit", "cooldown", "max_rollbacks", "rollback_period", "guard_window",
        "alerts", "after_window", "while_paused",
    }  # fmt: skip
    _unknown_keys(p, m, path, keys)
    rules = _rules(p, m.get("thresholds"), f"{path}.thresholds", allow_relative=False)
    if not m.get("thresholds"):
        p.add(f"{path}.thresholds", "name at least one live metric threshold")
    breaches = _int(p, m, "breaches", path, 3, 1, 100)
    of_windows = _int(p, m, "of_windows", path, 5, 1, 100)
    if breaches > of_windows:
        p.add(f"{path}.breaches", f"cannot exceed of_windows ({breaches} > {of_windows})")
    on_inconclusive = _choice(p, m, "on_inconclusive", path, ("hold", "rollback"))
    alerts = _choice(p, m, "alerts", path, ALERT_MODES)
    after_window = _choice(p, m, "after_window", path, ("needs_human", "rollback"))
    while_paused = _choice(p, m, "while_paused", path, ("rollback", "hold"))
    return Guard(
        rules=rules,
        breaches=breaches,
        of_windows=of_windows,
        min_samples=_int(p, m, "min_samples", path, 0, 0, 10**12),
        on_inconclusive=on_inconclusive,
        inconclusive_limit=_int(p, m, "inconclusive_limit", path, 3, 0, 1000),
        cooldown_s=_duration(p, m, "cooldown", path, 1800),
        max_rollbacks=_int(p, m, "max_rollbacks", path, 2, 1, 1000),
        rollback_period_s=_duration(p, m, "rollback_period", path, 86400),
        guard_window_s=_duration(p, m, "guard_window", path, 3600),
        alerts=alerts,
        after_window=after_window,
        while_paused=while_paused,
    )


ALERT_MODES = ("breach", "rollback", "advisory")


def _choice(
    p: _Problems, m: Mapping[str, Any], key: str, path: str, choices: tuple[str, ...]
) -> Any:
    """One of `choices` (the first is the default); anything else is reported and defaulted."""
    value = m.get(key, choices[0])
    if value not in choices:
        quoted = [f'"{c}"' for c in choices]
        expected = ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
        p.add(f"{path}.{key}", f"expected {expected}, got {policy_lint.shown(value)}")
        return choices[0]
    return value


OBSERVE_SOURCES = ("cloud_run",)
MIN_WINDOW_S = 1  # seconds-long windows run the local stack; Cloud Run samples every 60 s


def _observe(p: _Problems, raw: Any, path: str) -> Observe | None:
    """`observe: {source: cloud_run, window: 5m, delay: 3m}`: the built-in observer reads it."""
    if raw is None:
        return None
    m = _mapping(p, raw, path)
    _unknown_keys(p, m, path, {"source", "window", "delay"})
    source = m.get("source", "cloud_run")
    if source not in OBSERVE_SOURCES:
        p.add(f"{path}.source", f'expected "cloud_run" (the only source), got {_kind(source)}')
        source = "cloud_run"
    window = _duration(p, m, "window", path, 300)
    delay = _duration(p, m, "delay", path, 180)
    if window < MIN_WINDOW_S:
        p.add(f"{path}.window", "must be at least 1s")
        window = 300
    elif window > 86400:
        p.add(f"{path}.window", f"must be at most 1d, got {window}s")
    elif 86400 % window:
        p.add(f"{path}.window", f"must divide a day evenly (windows align on it), got {window}s")
    if delay > 86400:
        p.add(f"{path}.delay", f"must be at most 1d, got {delay}s")
    return Observe(source=source, window_s=window, delay_s=delay)


def _model(p: _Problems, raw: Any, path: str, shared: tuple[FreezeWindow, ...] = ()) -> ModelPolicy:
    m = _mapping(p, raw, path)
    keys = {"name", "vertex_model", "service", "serving", "gate", "canary", "guard", "observe",
            "freeze"}  # fmt: skip
    _unknown_keys(p, m, path, keys)
    return ModelPolicy(
        name=_string(p, m, "name", path, NAME_RE),
        vertex_model=_string(p, m, "vertex_model", path, VERTEX_MODEL_RE),
        service=_string(p, m, "service", path, SERVICE_RE),
        serving=_serving(p, m.get("serving"), f"{path}.serving"),
        gate=_gate(p, m.get("gate"), f"{path}.gate"),
        canary=_canary(p, m.get("canary"), f"{path}.canary"),
        guard=_guard(p, m.get("guard"), f"{path}.guard"),
        observe=_observe(p, m.get("observe"), f"{path}.observe"),
        freeze=shared + freeze_windows(p, m.get("freeze"), f"{path}.freeze"),
    )


def _list(p: _Problems, value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        p.add(path, f"expected a list, got {_kind(value)}")
        return []
    return value


def _unique(p: _Problems, names: list[str], path: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name and name in seen:
            p.add(f"{path}[{i}].name", f"duplicate name {policy_lint.shown(name)}")
        seen.add(name)


def load_policy(data: Any) -> Policy:
    """Validate a parsed policy document; raise PolicyError listing every problem."""
    p = _Problems()
    root = _mapping(p, data, "policy")
    _unknown_keys(
        p,
        root,
        "policy",
        {"version", "pipelines", "models", "max_event_age", "pending", "freeze"},
    )
    if root.get("version", 1) != 1:
        p.add(
            "version",
            f"unsupported policy version {policy_lint.shown(root.get('version'))} (this interlock reads 1)",
        )
    pipelines = tuple(
        _pipeline(p, raw, f"pipelines[{i}]")
        for i, raw in enumerate(_list(p, root.get("pipelines"), "pipelines"))
    )
    shared = freeze_windows(p, root.get("freeze"), "freeze")
    models = tuple(
        _model(p, raw, f"models[{i}]", shared)
        for i, raw in enumerate(_list(p, root.get("models"), "models"))
    )
    _unique(p, [x.name for x in pipelines], "pipelines")
    _unique(p, [x.name for x in models], "models")
    ages = _mapping(p, root.get("max_event_age"), "max_event_age")
    _unknown_keys(p, ages, "max_event_age", set(AGE_KINDS))
    defaults = {
        "data_landed": 86400,
        "model_evaluated": 86400,
        "model_observed": 3600,
        "request": 3600,
    }
    max_age = {k: _duration(p, ages, k, "max_event_age", defaults[k]) for k in AGE_KINDS}
    pending = _pending(p, _mapping(p, root.get("pending"), "pending"))
    # What Google would refuse (names, tag room), unless the field is already reported above.
    reported = {item.split(": ", 1)[0] for item in p.items}
    p.items.extend(
        problem
        for problem in google_names.problems(root.get("models"))
        if problem.split(": ", 1)[0] not in reported
    )
    p.items = policy_lint.review(root, p.items, pipelines, models, max_age)
    if p.items:
        raise PolicyError(p.items)
    return Policy(pipelines=pipelines, models=models, max_age_s=max_age, pending=pending)


def _pending(p: _Problems, m: Mapping[str, Any]) -> PendingPolicy:
    """`pending:` how long an event whose upstream is down is re-driven by the tick, how often."""
    d = PendingPolicy()
    _unknown_keys(p, m, "pending", {"give_up_after", "retry_first", "retry_max"})
    pending = PendingPolicy(
        give_up_after_s=_duration(p, m, "give_up_after", "pending", d.give_up_after_s),
        retry_first_s=_duration(p, m, "retry_first", "pending", d.retry_first_s),
        retry_max_s=_duration(p, m, "retry_max", "pending", d.retry_max_s),
    )
    if pending.retry_first_s < 1:
        p.add("pending.retry_first", "must be at least 1s")
    if pending.retry_max_s < pending.retry_first_s:
        p.add("pending.retry_max", "must not be shorter than pending.retry_first")
    return pending
