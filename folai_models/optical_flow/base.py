"""The optical-flow interface: RAFT and OpenCV estimators behind one call."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class FlowEstimator(ABC):
    """Dense optical flow between pairs of frames."""

    name: str = ""

    @abstractmethod
    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flow from ``first`` to ``second``: [n, H, W, 3] uint8 pairs -> float32 [n, 2, H, W] in pixels."""

    def revision(self) -> str:
        """What its weights are (part of the feature-cache key)."""
        return "none"
