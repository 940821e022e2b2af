"""Registries keyed by name (encoders, flow estimators, engines): registering a class and looking one up."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Collection
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


def import_registering_modules(package: str, registry: dict[str, type], name: object = None, *,
                               skip: Collection[str] = (), unavailable: dict[str, str] | None = None) -> None:
    """Import the modules of ``package`` that register classes in ``registry``.

    With ``name``: only until ``name`` is registered, trying first the modules whose name starts
    with it (``"opencv"`` -> ``opencv_flow.py``), so asking for a weight-free model does not import
    PyTorch for another one (seconds and hundreds of MB); all of them when ``name`` is not found.
    Without ``name``: all of them. A module whose
    library is not installed is noted in ``unavailable`` (module -> reason), not fatal; one whose
    own code fails to import raises.
    """
    modules = [m.name for m in pkgutil.iter_modules(importlib.import_module(package).__path__) if m.name not in skip]
    wanted = name if isinstance(name, str) else None
    if wanted is not None:
        modules.sort(key=lambda module: not module.startswith(wanted))  # stable: the rest keep their order
    for module in modules:
        if wanted is not None and wanted in registry:
            return
        try:
            importlib.import_module(f"{package}.{module}")
        except ModuleNotFoundError as error:
            if (error.name or "").startswith("folai_models"):
                raise  # our own code is broken: keep the traceback
            if unavailable is not None:
                unavailable[module] = f"{error.name} is not installed"
