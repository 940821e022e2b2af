"""Engines: what predicts the envelope and what renders audio, chosen by name.

Envelope engines (video -> envelope) and synth engines (envelope -> audio)
register themselves by name (:mod:`tasks.engines.registry`); every module of
this package is imported below, so adding an engine is one file that defines
an :class:`EnvelopeEngine` or :class:`SynthEngine` subclass decorated with
``@register_envelope_engine("name")`` / ``@register_synth_engine("name")``.
Build them with :func:`create_envelope_engine_from_config` /
:func:`create_synth_engine_from_config`.
"""

import importlib
import pkgutil

from tasks.engines.base import EnvelopeEngine, SynthEngine, fit_length
from tasks.engines.registry import (
    DEFAULT_SYNTH_ENGINE,
    ENVELOPE_ENGINES,
    SYNTH_ENGINES,
    UnknownEngineError,
    create_envelope_engine_from_config,
    create_synth_engine_from_config,
    register_envelope_engine,
    register_synth_engine,
    resolve_envelope_engine,
    resolve_synth_engine,
)

__all__ = ["DEFAULT_SYNTH_ENGINE", "ENVELOPE_ENGINES", "SYNTH_ENGINES", "EnvelopeEngine", "SynthEngine",
           "UnknownEngineError", "create_envelope_engine_from_config", "create_synth_engine_from_config",
           "fit_length", "register_envelope_engine", "register_synth_engine", "resolve_envelope_engine",
           "resolve_synth_engine"]

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "registry"):
        importlib.import_module(f"{__name__}.{_module.name}")  # registers its engines
