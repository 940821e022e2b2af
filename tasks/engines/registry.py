"""The engine registries: envelope and synth engines by name, built from a name or a config.

Engine modules register their classes with :func:`register_envelope_engine` /
:func:`register_synth_engine`; :mod:`tasks.engines` imports every module of
the package, so a new engine is one file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from data_catalog.errors import SonorizeError, SonorizeInputError
from folai_models.registry import Registered, look_up, register_in
from tasks.engines.base import EnvelopeEngine, SynthEngine

ENVELOPE_ENGINES: dict[str, type[EnvelopeEngine]] = {}
SYNTH_ENGINES: dict[str, type[SynthEngine]] = {}
DEFAULT_SYNTH_ENGINE = "foley"

class UnknownEngineError(SonorizeInputError, ValueError):
    """An engine name no registry holds (a ValueError too, for callers that check arguments)."""


def register_envelope_engine(name: str) -> Callable[[Registered], Registered]:
    """Class decorator: make an :class:`EnvelopeEngine` available by ``name``."""
    return register_in(ENVELOPE_ENGINES, "envelope engine", name)


def register_synth_engine(name: str) -> Callable[[Registered], Registered]:
    """Class decorator: make a :class:`SynthEngine` available by ``name``."""
    return register_in(SYNTH_ENGINES, "synth engine", name)


def _engine_class(registry: dict, kind: str, name: str) -> type:
    return look_up(registry, f"{kind} engine", name, error=UnknownEngineError)


def _name_and_options(config: str | Mapping[str, Any]) -> tuple[str, dict]:
    """``"name"`` or ``{"name": ..., "options": {...}}`` -> (name, options)."""
    if isinstance(config, Mapping):
        return config.get("name"), dict(config.get("options") or {})
    return config, {}


def create_envelope_engine_from_config(config: str | Mapping[str, Any]) -> EnvelopeEngine:
    """The envelope engine a name or config names, e.g. ``"preview"`` or ``{"name": "video2rms",
    "options": {"checkpoint": ...}}`` (:class:`UnknownEngineError` lists the choices).

    ``steps`` raises SonorizeInputError saying how to install MediaPipe when it is missing.
    """
    name, options = _name_and_options(config)
    return _engine_class(ENVELOPE_ENGINES, "envelope", name)(**options)


def create_synth_engine_from_config(config: str | Mapping[str, Any], **options) -> SynthEngine:
    """The synth engine a name or config names, built with the config's ``options`` and ``options``.

    ``folai`` and ``sao`` raise :class:`tasks.engines.weights.SynthWeightsMissing` when their weights are
    not there. ``foley`` takes ``room_tone_db`` and ``reverb``; ``sao`` those (for its render) and
    ``init_noise_level``, ``steps``, ``cfg_scale``, ``sampler``, ``candidates``; ``None`` values are dropped.
    """
    name, config_options = _name_and_options(config)
    options = {k: v for k, v in {**config_options, **options}.items() if v is not None}
    return _engine_class(SYNTH_ENGINES, "synth", name)(**options)


def resolve_envelope_engine(name: str) -> str:
    """The engine name, checked against the registry (:class:`UnknownEngineError` lists the choices).

    ``auto`` stays ``auto``: it decides per video, from evidence (:class:`tasks.engines.auto.AutoEnvelopeEngine`).
    """
    _engine_class(ENVELOPE_ENGINES, "envelope", name)
    return name


def resolve_synth_engine(name: str, fallback_to_preview: bool = False, warn=None) -> str:
    """``name``, or ``preview`` when ``name`` cannot run and the user allowed the fallback.

    Without ``fallback_to_preview`` the engine's own error (naming the missing
    weights and the commands that fetch them) propagates.
    """
    if name == "preview" or not fallback_to_preview:
        return name
    try:
        create_synth_engine_from_config(name)
    except UnknownEngineError:  # a name no registry holds is not an engine that cannot run
        raise
    except SonorizeError as error:
        if warn is not None:
            warn(f"synth engine {name!r} unavailable, falling back to 'preview' as asked: {error}")
        return "preview"
    return name
