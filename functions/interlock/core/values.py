"""Core layer: `fast_init`, the constructor of the frozen dataclasses every decision builds.

A frozen dataclass's generated `__init__` sets each field through `object.__setattr__` (its own
`__setattr__` refuses): about a microsecond for a nine-field value, and a promotion builds a
dozen of them (candidate, serving, deploy, traffic, aliases, decision...). `fast_init` swaps in
an `__init__` with the same signature and defaults that fills the instance dict directly: the
same instance (fields, eq, hash, repr, frozen afterwards) at a third of the cost.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")
_FACTORY = object()  # the default of a field with a default factory: "call the factory"


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen dataclass (no `__post_init__`, no slots, no init-only or keyword-only
    fields) a direct `__init__`; anything else is refused, not silently half supported."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"{cls.__name__}: fast_init takes a frozen dataclass")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = [f.name for f in fields]
    code = cls.__init__.__code__  # the generated one: (self, *fields)
    if (
        hasattr(cls, "__post_init__")
        or "__slots__" in cls.__dict__
        or any(not f.init or f.kw_only for f in fields)
        or list(code.co_varnames[1 : code.co_argcount]) != names
        or any(name == "self" or name.startswith("_") for name in names)
    ):
        raise TypeError(f"{cls.__name__}: fast_init takes only plain frozen dataclasses")
    generated = cls.__init__

    def first(self: Any, *args: Any, **kwargs: Any) -> None:
        # Made on the first instance, not at import: a function's cold start pays only for the
        # classes its first event builds (compiling each costs about as much as 500 instances).
        init = _direct_init(cls, fields, generated)
        cls.__init__ = init  # type: ignore[method-assign]
        init(self, *args, **kwargs)

    first.__wrapped__ = generated  # type: ignore[attr-defined]  # inspect.signature: the fields'
    cls.__init__ = first  # type: ignore[method-assign]
    return cls


def _direct_init(cls: type, fields: tuple[dataclasses.Field[Any], ...], generated: Any) -> Any:
    """`generated`'s signature and defaults; the instance dict filled field by field."""
    scope: dict[str, Any] = {"_FACTORY": _FACTORY}
    signature, body = [], []
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            signature.append(f"{f.name}=_FACTORY")
            body.append(
                f"    _dict_[{f.name!r}] = _factory_{f.name}() if {f.name} is _FACTORY else {f.name}"
            )
            continue
        if f.default is dataclasses.MISSING:
            signature.append(f.name)
        else:
            scope[f"_default_{f.name}"] = f.default
            signature.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _dict_[{f.name!r}] = {f.name}")
    source = f"def __init__(self, {', '.join(signature)}):\n    _dict_ = self.__dict__\n"
    exec(source + "\n".join(body) + "\n", scope)  # noqa: S102 - our own field names, as dataclasses does
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = dict(generated.__annotations__)
    init.__module__ = cls.__module__
    init.__wrapped__ = generated  # inspect.signature shows the generated one (`<factory>`)
    return init
