"""The optical-flow interface: RAFT and OpenCV estimators behind one call (built by name: ``registry.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class FlowEstimator(ABC):
    """Dense optical flow between pairs of frames.

    Attributes
    ----------
    name : registry key (:mod:`folai_models.optical_flow.registry`).
    weights_name : model-store entry of its pretrained weights, None if it has none.
    uses_device : it takes a torch ``device`` option (else it runs on the CPU).
    """

    name: str = ""
    weights_name: str | None = None
    uses_device: bool = False

    @abstractmethod
    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flow from ``first`` to ``second``: [n, H, W, 3] uint8 pairs -> float32 [n, 2, H, W] in pixels."""

    def revision(self) -> str:
        """What its weights are (part of the feature-cache key)."""
        return "none"


def check_frame_pairs(first, second) -> tuple[np.ndarray, np.ndarray]:
    """Both uint8 [n, H, W, 3] of one shape, or a ValueError saying what is wrong."""
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape or first.ndim != 4 or first.shape[-1] != 3:
        raise ValueError(f"frame pairs must both be [n, H, W, 3], got {first.shape} and {second.shape}")
    if first.dtype != np.uint8 or second.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {first.dtype} and {second.dtype}")
    return first, second
