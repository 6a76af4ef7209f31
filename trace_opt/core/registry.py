"""``Registry``: names to classes or functions, the one registry type of the project (solvers, neighbourhoods,
attribution baselines), with one rule for a duplicate name: it is refused unless ``overwrite=True``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Registry(dict[str, Any]):
    """A dict from names to registered objects, for one ``kind`` of thing (``"solver"``, ...).

    ``add(name, obj, overwrite=False)`` registers (a name already taken is a ValueError unless ``overwrite``);
    ``lookup(name)`` returns the object or raises a ValueError naming the kind and listing the known names;
    ``names()`` lists them sorted. Reading it as a dict (``name in registry``, ``registry[name]``) works as usual.
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def add(self, name: str, obj: T, overwrite: bool = False) -> T:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string; got {name!r}")
        if name in self and not overwrite and self[name] is not obj:
            raise ValueError(f"a {self.kind} named {name!r} is already registered; pass overwrite=True to replace it")
        self[name] = obj
        return obj

    def lookup(self, name: str) -> Any:
        if name not in self:
            raise ValueError(f"{self.kind}={name!r} is unknown; expected one of {self.names()}")
        return self[name]

    def names(self) -> list[str]:
        return sorted(self)

    def decorator(self, name: str, overwrite: bool = False) -> Callable[[T], T]:
        """``@registry.decorator(name)``: register a class under ``name`` and set its ``name`` attribute."""

        def deco(cls: T) -> T:
            self.add(name, cls, overwrite=overwrite)
            cls.name = name  # type: ignore[attr-defined]  # a registered class carries its name
            return cls

        return deco
