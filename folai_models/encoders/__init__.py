"""Frame encoders: video frames (and flow images) -> per-frame feature vectors.

Encoders register themselves by name in :data:`ENCODERS` (see ``base.py``).
Every module of this package holding one is imported on lookup, the encoder's
own module first (``motion`` needs no PyTorch; the others do), so adding an
encoder is one file that defines a :class:`FrameEncoder` subclass decorated
with ``@register_encoder("name")``. ``ENCODERS`` read from this package holds
all of them.
"""

from folai_models.encoders.base import (
    EncoderConfig,
    FrameEncoder,
    create_encoder_from_config,
    encoder_class,
    register_encoder,
)

__all__ = ["ENCODERS", "EncoderConfig", "FrameEncoder", "create_encoder_from_config", "encoder_class", "register_encoder"]


def __getattr__(name: str):
    if name == "ENCODERS":  # the whole registry: every encoder module imported
        from folai_models.encoders.base import ENCODERS, load_encoders

        load_encoders()
        return ENCODERS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
