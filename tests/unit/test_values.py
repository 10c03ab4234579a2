"""fast_init: the same frozen values as dataclasses builds, made through the instance dict."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from interlock.core.codec import format_seconds, printable_ascii
from interlock.core.values import fast_init


@fast_init
@dataclass(frozen=True)
class Fast:
    name: str
    count: int = 0
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Plain:
    name: str
    count: int = 0
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict)


def test_a_fast_value_equals_what_the_generated_init_builds_field_for_field() -> None:
    for args, kwargs in [(("a",), {}), (("a", 2), {"tags": ("x",)}), ((), {"name": "b"})]:
        fast, plain = Fast(*args, **kwargs), Plain(*args, **kwargs)
        assert dataclasses.astuple(fast) == dataclasses.astuple(plain)
        assert repr(fast).removeprefix("Fast") == repr(plain).removeprefix("Plain")
    assert Fast("a", 1) == Fast("a", 1) != Fast("a", 2)
    assert Fast("a").extra is not Fast("a").extra  # each instance its own factory default
    assert inspect.signature(Fast) == inspect.signature(Plain)


def test_a_fast_value_stays_frozen_and_refuses_what_the_generated_init_refuses() -> None:
    value = Fast("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'name'"):
        Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        Fast("a", nope=1)  # type: ignore[call-arg]


def test_only_plain_frozen_dataclasses_are_accepted() -> None:
    @dataclass
    class Mutable:
        name: str

    @dataclass(frozen=True)
    class Checked:
        name: str

        def __post_init__(self) -> None:
            pass

    for cls in (Mutable, Checked):
        with pytest.raises(TypeError, match="fast_init takes"):
            fast_init(cls)


@pytest.mark.parametrize(
    "text",
    ["", "churn-v7", "a" * 127, "a" * 128, "x" * 5000, "a" * 200 + "\x7f", "a" * 200 + "\n",
     "\x00" + "a" * 300, "a" * 150 + "é", "é", "tab\there", " " * 300, "~" * 300],
)  # fmt: skip
def test_printable_ascii_answers_as_isascii_and_isprintable_do_for_short_and_long_text(
    text: str,
) -> None:
    assert printable_ascii(text) == (text.isascii() and text.isprintable())


def test_format_seconds_writes_what_strftime_writes() -> None:
    from datetime import UTC, datetime

    for when in [
        datetime(2024, 6, 3, 10, 42, 17, 204000, tzinfo=UTC),
        datetime(2031, 1, 1, tzinfo=UTC),
    ]:
        assert format_seconds(when) == f"{when:%Y-%m-%dT%H:%M:%SZ}"
