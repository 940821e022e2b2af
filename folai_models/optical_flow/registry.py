"""The flow-estimator registry: estimators by name, built from a name or a config (as the frame encoders).

Estimator modules register their classes with :func:`register_flow_estimator`.
They are imported on lookup, not with the package, the estimator's own module
first: RAFT needs PyTorch, which the base install (weight-free OpenCV flow) does
not have and a run with OpenCV flow need not import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from folai_models.optical_flow.base import FlowEstimator
from folai_models.registry import import_registering_modules, look_up, register_in

FLOW_ESTIMATORS: dict[str, type[FlowEstimator]] = {}
_UNAVAILABLE: dict[str, str] = {}  # estimator module -> the package it lacks in this install
_SUPPORT_MODULES = ("base", "registry", "flow_images")  # modules that define no estimator
_loaded = False


@dataclass(frozen=True)
class FlowConfig:
    """How to build a flow estimator: its registry ``name`` and keyword ``options`` (e.g. ``device``)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


def register_flow_estimator(name: str) -> Callable[[type[FlowEstimator]], type[FlowEstimator]]:
    """Class decorator: make a flow estimator available by ``name``."""
    return register_in(FLOW_ESTIMATORS, "flow estimator", name)


def _load_estimators(name: object = None) -> None:
    """Import the estimator modules (only until ``name`` is registered, when given); once for all of them."""
    global _loaded
    if _loaded:
        return
    import_registering_modules("folai_models.optical_flow", FLOW_ESTIMATORS, name, skip=_SUPPORT_MODULES,
                               unavailable=_UNAVAILABLE)
    _loaded = name is None


def flow_estimator_class(name: str) -> type[FlowEstimator]:
    """The estimator class registered as ``name`` (its class attributes, without building it)."""
    _load_estimators(name)  # an unknown name imports every module: the error lists all and why any is missing
    missing = "".join(f"; {module}: {reason}" for module, reason in sorted(_UNAVAILABLE.items()))
    return look_up(FLOW_ESTIMATORS, "flow method", name, note=missing)


def available_flow_estimators() -> tuple[str, ...]:
    """The names of the estimators this install can build, sorted."""
    _load_estimators()
    return tuple(sorted(FLOW_ESTIMATORS))


def create_flow_estimator_from_config(config: FlowConfig | Mapping[str, Any] | str) -> FlowEstimator:
    """Build the estimator a config names, e.g. ``"opencv"`` or ``{"name": "raft", "options": {"device": "cuda"}}``.

    Estimators with weights (:attr:`FlowEstimator.weights_name`) start random: the caller loads them.
    """
    if isinstance(config, str):
        config = FlowConfig(name=config)
    elif isinstance(config, Mapping):
        config = FlowConfig(name=config["name"], options=dict(config.get("options") or {}))
    return flow_estimator_class(config.name)(**dict(config.options))
