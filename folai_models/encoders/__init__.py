"""Frame encoders: video frames (and flow images) -> per-frame feature vectors.

Encoders register themselves by name in :data:`ENCODERS` (see ``base.py``).
Every module of this package is imported below, so adding an encoder is one
file that defines a :class:`FrameEncoder` subclass decorated with
``@register_encoder("name")``.
"""

import importlib
import pkgutil

from folai_models.encoders.base import (
    ENCODERS,
    EncoderConfig,
    FrameEncoder,
    create_encoder_from_config,
    encoder_class,
    register_encoder,
)

__all__ = ["ENCODERS", "EncoderConfig", "FrameEncoder", "create_encoder_from_config", "encoder_class", "register_encoder"]

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")  # registers its encoders
