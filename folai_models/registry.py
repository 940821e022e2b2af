"""Registries keyed by name (encoders, flow estimators, engines): registering a class and looking one up."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

Registered = TypeVar("Registered", bound=type)


def register_in(registry: dict[str, type], kind: str, name: str) -> Callable[[Registered], Registered]:
    """Class decorator: store the class in ``registry`` under ``name`` and set its ``name`` attribute.

    ``kind`` names what the registry holds in the error a second class of the same name gets.
    """

    def decorate(cls: Registered) -> Registered:
        if name in registry:
            raise ValueError(f"{kind} {name!r} is registered twice")
        cls.name = name
        registry[name] = cls
        return cls

    return decorate


def look_up(registry: dict[str, type], kind: str, name: str, *, error: type[Exception] = ValueError,
            note: str = "") -> type:
    """The class registered as ``name``, else ``error("unknown <kind> <name>; available: <sorted names><note>")``."""
    try:
        return registry[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name (a dict given where a name belongs)
        raise error(f"unknown {kind} {name!r}; available: {', '.join(sorted(registry))}{note}") from None
