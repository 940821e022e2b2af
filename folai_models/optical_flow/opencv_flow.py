"""Weight-free dense optical flow with OpenCV (DIS or Farneback), for CPU users without RAFT weights."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from folai_models.optical_flow.base import FlowEstimator, check_frame_pairs

# cv2.DISOpticalFlow presets (OpenCV docs: ULTRAFAST < FAST < MEDIUM in quality and cost).
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# Default DIS preset: the best of the three (the brief: quality first).
DIS_PRESET = "medium"
# cv2.calcOpticalFlowFarneback arguments from the OpenCV optical-flow tutorial:
# pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags.
FARNEBACK_PARAMS = (0.5, 3, 15, 3, 5, 1.2, 0)

OpenCVMethod = Literal["dis", "farneback"]


class OpenCVFlow(FlowEstimator):
    """Dense flow on grey frames with OpenCV: no weights, CPU only.

    Parameters
    ----------
    method : "dis" (Dense Inverse Search, default) or "farneback".
    preset : DIS preset, "ultrafast" | "fast" | "medium" (ignored by Farneback).
    """

    name = "opencv"

    def __init__(self, method: OpenCVMethod = "dis", preset: str = DIS_PRESET) -> None:
        if method not in ("dis", "farneback"):
            raise ValueError(f"method must be 'dis' or 'farneback', got {method!r}")
        if method == "dis" and preset not in DIS_PRESETS:
            raise ValueError(f"DIS preset must be one of {sorted(DIS_PRESETS)}, got {preset!r}")
        self.method = method
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset]) if method == "dis" else None

    def revision(self) -> str:
        """No weights: the OpenCV version and settings identify the output."""
        setting = f"dis-{self.preset}" if self.method == "dis" else "farneback"
        return f"opencv{cv2.__version__}-{setting}"

    def _pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        grey1 = cv2.cvtColor(np.ascontiguousarray(first), cv2.COLOR_RGB2GRAY)
        grey2 = cv2.cvtColor(np.ascontiguousarray(second), cv2.COLOR_RGB2GRAY)
        if self._dis is not None:
            flow = self._dis.calc(grey1, grey2, None)
        else:
            flow = cv2.calcOpticalFlowFarneback(grey1, grey2, None, *FARNEBACK_PARAMS)
        return flow.transpose(2, 0, 1)  # [H, W, 2] -> [2, H, W]

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flow from ``first`` to ``second``: uint8 [n, H, W, 3] pairs -> float32 [n, 2, H, W] in pixels."""
        first, second = check_frame_pairs(first, second)
        n, height, width, _ = first.shape
        out = np.empty((n, 2, height, width), dtype=np.float32)
        for i in range(n):
            out[i] = self._pair(first[i], second[i])
        return out
