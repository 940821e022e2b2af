"""Frame encoders: video frames (and flow images) -> per-frame feature vectors.

Encoders register themselves by name in :data:`ENCODERS` (see ``base.py``);
adding one is one file that defines a :class:`FrameEncoder` subclass and
registers it, plus one import line below.
"""

from folai_models.encoders.base import ENCODERS, EncoderConfig, FrameEncoder, create_encoder_from_config, register_encoder

__all__ = ["ENCODERS", "EncoderConfig", "FrameEncoder", "create_encoder_from_config", "register_encoder"]
from folai_models.encoders import tc_clip  # noqa: F401  (registers "tc_clip")
from folai_models.encoders import bn_inception, motion  # noqa: F401  (register encoders)
