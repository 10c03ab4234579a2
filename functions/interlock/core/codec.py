"""Core layer: one description of each payload type drives decoding, encoding and JSON Schema.

Event payloads are frozen dataclasses. Their type hints plus the constraints given with `spec()`
are the single source of truth: `decode` validates untrusted JSON against them with errors that
name the field, `encode` writes them back, and `schema` emits the JSON Schema kept in `events/`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from interlock.core.errors import PermanentError

T = TypeVar("T")
Decoder = Callable[[Any, str], Any]  # (untrusted value, its path) -> checked value

DEFAULT_MAX_LENGTH = 1024
MAX_MAP_ITEMS = 64
MAX_LIST_ITEMS = 64
KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"
_KEY_RE = re.compile(KEY_PATTERN)
# Control characters break one-JSON-line logs and terminal output; nobody needs them in an id.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTES = bytes(range(0x20)) + b"\x7f"  # what ASCII holds besides printable characters
_LONG = 128  # characters: from here a byte scan beats `isprintable`
_compiled = functools.cache(re.compile)  # a field's pattern, compiled on its first value


@dataclasses.dataclass(frozen=True)
class Spec:
    description: str = ""
    max_length: int = DEFAULT_MAX_LENGTH
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    finite: bool = True


def spec(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A dataclass field with validation constraints (see `Spec`)."""
    meta = {"spec": Spec(**kwargs)}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, dict | list):
        raise TypeError("use an immutable default")
    return dataclasses.field(default=default, metadata=meta)


def spec_of(f: dataclasses.Field[Any]) -> Spec:
    s = f.metadata.get("spec")
    return s if isinstance(s, Spec) else Spec()


def type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _fields_of(cls: Any) -> dict[str, tuple[Decoder, bool]]:
    """name → (its checks, required) of a dataclass, worked out once per class: resolving
    string annotations compiles each one, which cost most of a decode."""
    hints = type_hints(cls)
    return {
        f.name: (
            _decoder(hints[f.name], spec_of(f)),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    }


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise PermanentError(path, f"expected an RFC 3339 timestamp string, got {_describe(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PermanentError(path, f"not an RFC 3339 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise PermanentError(path, f"timestamp needs a time zone (e.g. 'Z'): {value[:40]!r}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise PermanentError(path, f"timestamp out of range: {value[:40]!r}") from None


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_seconds(value: datetime) -> str:
    """`f"{value:%Y-%m-%dT%H:%M:%SZ}"` (how reasons show a UTC time) at a third of strftime's
    cost: every promotion says until when its guard window runs."""
    v = value
    fields = (v.year, v.month, v.day, v.hour, v.minute, v.second)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % fields  # noqa: UP031 - twice as fast as f"{:04d}"


def printable_ascii(value: str) -> bool:
    """Only printable ASCII (0x20-0x7e), as ids, names and URIs are. A short string asks
    `isprintable` (a Unicode table lookup per character); a long one (a replayed event's JSON)
    is copied as bytes with its control bytes deleted: the same answer at a third of the cost."""
    if not value.isascii():
        return False
    if len(value) < _LONG:
        return value.isprintable()
    raw = value.encode("ascii")
    return len(raw.translate(None, _CONTROL_BYTES)) == len(raw)


def check_string(value: Any, path: str, s: Spec = Spec()) -> str:
    if not isinstance(value, str):
        raise PermanentError(path, f"expected a string, got {_describe(value)}")
    if len(value) > s.max_length:
        raise PermanentError(path, f"too long: {len(value)} characters, at most {s.max_length}")
    # Printable ASCII (most values: ids, names, URIs) holds neither a control character nor a
    # lone surrogate: one C-speed test instead of a regex search per string.
    if not (
        value.isascii() and (value.isprintable() if len(value) < _LONG else printable_ascii(value))
    ):
        if _CONTROL_RE.search(value):
            raise PermanentError(path, "contains control characters")
        if not value.isascii():  # only non-ASCII text can hold a lone surrogate
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise PermanentError(path, "not valid UTF-8 (lone surrogate)") from None
    if s.pattern is not None and not _compiled(s.pattern).fullmatch(value):
        raise PermanentError(path, f"{value[:60]!r} does not match {s.pattern}")
    return value


def _check_number(value: Any, path: str, s: Spec, *, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "an integer" if integer else "a number"
        raise PermanentError(path, f"expected {kind}, got {_describe(value)}")
    if integer and not isinstance(value, int):
        if not (isinstance(value, float) and value.is_integer()):
            raise PermanentError(path, f"expected an integer, got {value!r}")
        value = int(value)
    if s.finite and not math.isfinite(value):
        raise PermanentError(path, f"must be finite, got {value!r}")
    if s.minimum is not None and value < s.minimum:
        raise PermanentError(path, f"must be >= {s.minimum:g}, got {value!r}")
    if s.maximum is not None and value > s.maximum:
        raise PermanentError(path, f"must be <= {s.maximum:g}, got {value!r}")
    number: float | int = value
    return number


@functools.cache
def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
        raise TypeError(f"unsupported union {tp!r}")
    return tp, False


def _decode_value(tp: Any, value: Any, path: str, s: Spec) -> Any:
    return _decoder(tp, s)(value, path)


@functools.cache
def _decoder(tp: Any, s: Spec) -> Decoder:
    """The checks for one field type, worked out once per (type, constraints): inspecting the
    type on every value cost more than checking the value."""
    inner, optional = unwrap_optional(tp)
    base = _base_decoder(inner, s)
    if optional:

        def maybe(value: Any, path: str) -> Any:
            return None if value is None else base(value, path)

        checked = maybe
    else:

        def required(value: Any, path: str) -> Any:
            if value is None:
                raise PermanentError(path, "must not be null")
            return base(value, path)

        checked = required
    return _fast_path(inner, s, checked)


def _fast_path(tp: Any, s: Spec, checked: Decoder) -> Decoder:
    """`checked`, behind a test of the common value in one expression: a printable ASCII string
    within its bounds, an int or float within its range. Only what every check of `checked`
    would pass takes the shortcut; anything else (null, the wrong type, a value out of bounds,
    non-ASCII text) gets `checked` itself, so the outcome and each error stay the same."""
    lo, hi = s.minimum, s.maximum
    if tp is str:
        limit = s.max_length
        if s.pattern is None:

            def string(value: Any, path: str) -> Any:
                if (
                    value.__class__ is str
                    and len(value) <= limit
                    and value.isascii()
                    and (value.isprintable() if len(value) < _LONG else printable_ascii(value))
                ):
                    return value
                return checked(value, path)

            return string
        fullmatch = _compiled(s.pattern).fullmatch

        def patterned(value: Any, path: str) -> Any:
            if (
                value.__class__ is str
                and len(value) <= limit
                and value.isascii()
                and (value.isprintable() if len(value) < _LONG else printable_ascii(value))
                and fullmatch(value)
            ):
                return value
            return checked(value, path)

        return patterned
    if tp is int or tp is float:
        # An int for a float field takes `checked` (it converts); bool is not `int` here.
        finite = s.finite and tp is float

        def number(value: Any, path: str) -> Any:
            if (
                value.__class__ is tp
                and (lo is None or value >= lo)
                and (hi is None or value <= hi)
                and not (finite and not math.isfinite(value))
            ):
                return value
            return checked(value, path)

        return number
    return checked


def _base_decoder(tp: Any, s: Spec) -> Decoder:
    origin = typing.get_origin(tp)
    if tp is str:
        return lambda value, path: check_string(value, path, s)
    if tp is bool:

        def boolean(value: Any, path: str) -> Any:
            if not isinstance(value, bool):
                raise PermanentError(path, f"expected true or false, got {_describe(value)}")
            return value

        return boolean
    if tp is int:
        return lambda value, path: _check_number(value, path, s, integer=True)
    if tp is float:
        return lambda value, path: float(_check_number(value, path, s, integer=False))
    if tp is datetime:
        return parse_time
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        allowed = ", ".join(repr(a) for a in choices)

        def literal(value: Any, path: str) -> Any:
            if value not in choices:
                raise PermanentError(path, f"must be one of {allowed}, got {str(value)[:40]!r}")
            return value

        return literal
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        item = _decoder(item_tp, s)

        def sequence(value: Any, path: str) -> Any:
            if not isinstance(value, list):
                raise PermanentError(path, f"expected a list, got {_describe(value)}")
            if len(value) > MAX_LIST_ITEMS:
                raise PermanentError(
                    path, f"too many items: {len(value)}, at most {MAX_LIST_ITEMS}"
                )
            return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))

        return sequence
    if origin is Mapping or origin is dict:
        _key_tp, item_tp = typing.get_args(tp)
        entry = _decoder(item_tp, s)
        frozen = origin is Mapping
        key_ok = _KEY_RE.match

        def mapping(value: Any, path: str) -> Any:
            if not isinstance(value, dict):
                raise PermanentError(path, f"expected an object, got {_describe(value)}")
            if len(value) > MAX_MAP_ITEMS:
                raise PermanentError(
                    path, f"too many entries: {len(value)}, at most {MAX_MAP_ITEMS}"
                )
            out = {}
            prefix = f"{path}." if path else ""
            for k, v in value.items():
                if not key_ok(k):
                    raise PermanentError(_join(path, str(k)[:64]), f"key must match {KEY_PATTERN}")
                out[k] = entry(v, prefix + k)
            return types.MappingProxyType(out) if frozen else out

        return mapping
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        cls = tp
        return lambda value, path: decode(cls, value, path)

    def unsupported(value: Any, path: str) -> Any:
        raise TypeError(f"unsupported field type {tp!r} at {path}")

    return unsupported


def decode(cls: type[T], data: Any, path: str = "") -> T:
    """Build `cls` from untrusted JSON-like data, or raise PermanentError naming the field."""
    if not isinstance(data, dict):
        raise PermanentError(path or "data", f"expected an object, got {_describe(data)}")
    fields = _fields_of(cast(Hashable, cls))
    if not fields.keys() >= data.keys():
        key = next(k for k in data if k not in fields)
        raise PermanentError(_join(path, str(key)[:64]), "unknown field")
    kwargs: dict[str, Any] = {}
    for name, where, check, required in _plan(cast(Hashable, cls), path):
        value = data.get(name, _ABSENT)
        if value is _ABSENT:
            if required:
                raise PermanentError(where, "required field missing")
            continue
        kwargs[name] = check(value, where)
    return cls(**kwargs)


_ABSENT = object()


@functools.lru_cache(maxsize=1024)
def _plan(cls: Any, path: str) -> tuple[tuple[str, str, Decoder, bool], ...]:
    """(name, its path, its checks, required) of each field of `cls` decoded at `path`: the
    decision path decodes the same few (class, path) pairs, so each field's path is joined once.
    Bounded: nested paths carry the keys of the data."""
    prefix = f"{path}." if path else ""
    return tuple(
        (name, prefix + name, check, required)
        for name, (check, required) in _fields_of(cls).items()
    )


def encode(value: Any) -> Any:
    """A JSON-ready form of a payload (datetimes as RFC 3339 UTC, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: encode(v) for k, v in value.items()}
    return value
