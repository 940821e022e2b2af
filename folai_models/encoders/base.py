"""The frame-encoder interface and its registry (stable-audio-tools style factories).

A frame encoder maps a window of consecutive RGB frames (uint8, at the
encoder's input size) and, when it uses motion, the matching flow images
(uint8, see :mod:`folai_models.optical_flow.flow_images`) to one feature
vector per frame. Weights come in as a state dict (loaded by the model store);
the encoder never reads files or downloads anything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from folai_models.registry import import_registering_modules, look_up, register_in


@dataclass(frozen=True)
class EncoderConfig:
    """How to build an encoder: its registry ``name`` and keyword ``options`` (e.g. sizes)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


class FrameEncoder(ABC):
    """One feature vector per frame.

    Attributes
    ----------
    name : registry key.
    feature_dim : length of each frame's feature vector.
    uses_flow : whether :meth:`encode` needs flow images.
    input_size : (height, width) the frames must have; None = any size.
    center_crop : the caller scales frames to cover ``resize_shorter_side`` (default: the
        input size) and cuts out the centre; False = squash the whole frame to ``input_size``.
    resize_shorter_side : shorter side before the centre crop (e.g. 256 for 224 crops).
    weights_name : model-store entry of its pretrained weights, None if it has none.
    mirrorable : :meth:`mirror_features` gives the features of the horizontally
        mirrored video (training augmentation without re-encoding).
    """

    name: str = ""
    feature_dim: int = 0
    uses_flow: bool = False
    input_size: tuple[int, int] | None = None
    center_crop: bool = True
    resize_shorter_side: int | None = None
    weights_name: str | None = None
    mirrorable: bool = False

    @abstractmethod
    def encode(self, frames: np.ndarray, flow_images: np.ndarray | None = None) -> np.ndarray:
        """Encode ``frames`` [n, H, W, 3] uint8 (and ``flow_images`` [n, H, W, 3] uint8).

        Returns float32 [n, feature_dim]. Flow image ``i`` is the motion from
        frame ``i - 1`` to frame ``i`` (zeros for the video's first frame).
        """

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # pragma: no cover - weight-free default
        """Load pretrained weights strictly (encoders with weights override this)."""
        raise ValueError(f"encoder {self.name!r} has no weights to load")

    @classmethod
    def mirror_features(cls, features: np.ndarray) -> np.ndarray:
        """Features of the horizontally mirrored video, computed from the video's own features.

        Only hand-made features know how they change under a mirror (learned
        embeddings do not): encoders with ``mirrorable`` override this.
        """
        raise ValueError(f"{cls.name or cls.__name__} features cannot be mirrored: re-encode mirrored frames instead")

    def revision(self) -> str:
        """What its weights are (part of the feature-cache key): a hash, 'random' or 'none'."""
        return "none"


ENCODERS: dict[str, type[FrameEncoder]] = {}
_UNAVAILABLE: dict[str, str] = {}  # encoder module -> the package it lacks in this install


def register_encoder(name: str) -> Callable[[type[FrameEncoder]], type[FrameEncoder]]:
    """Class decorator: make an encoder available by ``name``."""
    return register_in(ENCODERS, "encoder", name)


def create_encoder_from_config(config: EncoderConfig | Mapping[str, Any]) -> FrameEncoder:
    """Build the encoder a config names, e.g. ``{"name": "motion"}`` or ``{"name": "tc_clip", "options": {...}}``."""
    if isinstance(config, Mapping):
        config = EncoderConfig(name=config["name"], options=dict(config.get("options", {})))
    return encoder_class(config.name)(**dict(config.options))


def load_encoders(name: object = None) -> None:
    """Import the encoder modules: all of them, or only until ``name`` is registered (its own module first)."""
    import_registering_modules("folai_models.encoders", ENCODERS, name, skip=("base",), unavailable=_UNAVAILABLE)


def encoder_class(name: str) -> type[FrameEncoder]:
    """The encoder class registered as ``name`` (its class attributes, without building it)."""
    load_encoders(name)
    missing = "".join(f"; {module}: {reason}" for module, reason in sorted(_UNAVAILABLE.items()))
    return look_up(ENCODERS, "encoder", name, note=missing)
