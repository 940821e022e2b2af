"""Weight-free dense optical flow with OpenCV (DIS or Farneback), for CPU users without RAFT weights."""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import cv2
import numpy as np

from folai_models.optical_flow.base import FlowEstimator, check_frame_pairs
from folai_models.optical_flow.registry import register_flow_estimator

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
MAX_WORKERS = 4  # threads for the pairs of one call; more gains little on laptops (memory bandwidth)


def default_workers() -> int:
    """The CPU cores this process may use (its affinity), at most MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def options_from_revision(revision: str) -> dict | None:
    """The :class:`OpenCVFlow` arguments that one of its :meth:`~OpenCVFlow.revision` strings names.

    ``"opencv4.8.0-dis-fast"`` -> ``{"method": "dis", "preset": "fast"}``, ``"opencv4.8.0-farneback"`` ->
    ``{"method": "farneback"}``; None for another estimator's revision or an unknown preset. The OpenCV
    version is not an argument (another version gives nearly the same flow).
    """
    match = re.fullmatch(r"opencv[^-]*-(?:dis-(?P<preset>\w+)|farneback)", revision)
    if match is None:
        return None
    preset = match.group("preset")
    if preset is None:
        return {"method": "farneback"}
    return {"method": "dis", "preset": preset} if preset in DIS_PRESETS else None


@register_flow_estimator("opencv")
class OpenCVFlow(FlowEstimator):
    """Dense flow on grey frames with OpenCV: no weights, CPU only.

    Parameters
    ----------
    method : "dis" (Dense Inverse Search, default) or "farneback".
    preset : DIS preset, "ultrafast" | "fast" | "medium" (ignored by Farneback); None = DIS_PRESET.
    workers : threads sharing the pairs of one call (OpenCV releases the GIL); None = the
        cores this process may use (at most MAX_WORKERS). Each pair's flow depends on that
        pair alone, so the result is the same, bit for bit, with any number of workers.
    """

    def __init__(self, method: OpenCVMethod = "dis", preset: str | None = None, workers: int | None = None) -> None:
        preset = DIS_PRESET if preset is None else preset
        if method not in ("dis", "farneback"):
            raise ValueError(f"method must be 'dis' or 'farneback', got {method!r}")
        if method == "dis" and preset not in DIS_PRESETS:
            raise ValueError(f"DIS preset must be one of {sorted(DIS_PRESETS)}, got {preset!r}")
        self.method = method
        self.preset = preset
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self._local = threading.local()  # a DIS object keeps buffers: one per thread
        self._pool: ThreadPoolExecutor | None = None

    def revision(self) -> str:
        """No weights: the OpenCV version and settings identify the output."""
        setting = f"dis-{self.preset}" if self.method == "dis" else "farneback"
        return f"opencv{cv2.__version__}-{setting}"

    def _dis(self):
        dis = getattr(self._local, "dis", None)
        if dis is None:
            dis = self._local.dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.preset])
        return dis

    def _pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        grey1 = cv2.cvtColor(np.ascontiguousarray(first), cv2.COLOR_RGB2GRAY)
        grey2 = cv2.cvtColor(np.ascontiguousarray(second), cv2.COLOR_RGB2GRAY)
        if self.method == "dis":
            flow = self._dis().calc(grey1, grey2, None)
        else:
            flow = cv2.calcOpticalFlowFarneback(grey1, grey2, None, *FARNEBACK_PARAMS)
        return flow.transpose(2, 0, 1)  # [H, W, 2] -> [2, H, W]

    def _run(self, first: np.ndarray, second: np.ndarray, out: np.ndarray, indices: range) -> None:
        for i in indices:
            out[i] = self._pair(first[i], second[i])

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flow from ``first`` to ``second``: uint8 [n, H, W, 3] pairs -> float32 [n, 2, H, W] in pixels."""
        first, second = check_frame_pairs(first, second)
        n, height, width, _ = first.shape
        out = np.empty((n, 2, height, width), dtype=np.float32)
        workers = min(self.workers, n)
        if workers <= 1:
            self._run(first, second, out, range(n))
            return out
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="opencv-flow")
        # interleaved shares: neighbouring pairs cost about the same, so the threads finish together
        jobs = [self._pool.submit(self._run, first, second, out, range(k, n, workers)) for k in range(workers)]
        for job in jobs:
            job.result()
        return out

    def __getstate__(self) -> dict:  # threads and OpenCV objects do not pickle (Dask, process pools)
        return {"method": self.method, "preset": self.preset, "workers": self.workers}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)
