"""A quicker ``__init__`` for the engine's frozen dataclasses made once per cart line.

A frozen dataclass's generated ``__init__`` cannot assign its fields (its class's
``__setattr__`` refuses), so it sets each one through ``object.__setattr__``, looked up
anew for every field: a line of the pricing hook's cart, its result and its adjustment cost
about 0.6 µs each to make, five times the time of the same class unfrozen. For a 50-line
cart that was a tenth of the hook's CPU (``bench/pricing.py``); set through the slots'
descriptors, they take about two thirds of that time.

:func:`quick_init` gives such a class an ``__init__`` that sets each slot through the slot's
own descriptor, bound once when the class is made. The class stays the same frozen,
slotted dataclass: the same signature and defaults, ``__post_init__`` called as before,
equality, hashing, ``repr`` and ``dataclasses.replace`` unchanged, and assigning a field
still raises ``FrozenInstanceError``. Only for the plain case: a class with a
``default_factory``, an ``init=False`` or keyword-only field, or an ``InitVar`` is refused
when it is decorated, not mis-built.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass ``cls`` an ``__init__`` that sets its slots
    directly (see the module's docstring); returns ``cls``."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(fields) != len(getattr(cls, "__dataclass_fields__", {})):
        raise TypeError(f"{cls.__name__} has an InitVar or a ClassVar field")
    namespace: dict[str, Any] = {}
    arguments: list[str] = []
    body: list[str] = []
    for number, field in enumerate(fields):
        if not field.init or field.kw_only or field.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{field.name} is not a plain field")
        setter, default = f"_set_{number}", f"_default_{number}"
        namespace[setter] = getattr(cls, field.name).__set__
        if field.default is dataclasses.MISSING:
            arguments.append(field.name)
        else:
            namespace[default] = field.default
            arguments.append(f"{field.name}={default}")
        body.append(f"    {setter}(self, {field.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(arguments)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # as dataclasses itself builds __init__
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
