"""Frame features of a whole video, window by window (SPEC stages 5 and 6).

Frames arrive in windows at 30 fps; optical flow runs between consecutive
frames (the last frame of a window is carried into the next, so window
boundaries change nothing), is turned into uint8 flow images as Video-Foley
does, and the encoder maps each window to one feature vector per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from folai_models.encoders.base import FrameEncoder
from folai_models.optical_flow.base import FlowEstimator
from folai_models.optical_flow.flow_images import flow_to_image

# Frames analysed at once. Flow fields of 16 frames at 224x224 hold ~6 MB; with the frames, flow images
# and the encoder's temporaries a chunk's working set is ~25 MB (64 frames: ~100 MB, and ~60 MB more peak RSS
# on a 3-minute video, docs/SPEED.md). The features are the same whatever the chunk (tested).
CHUNK_FRAMES = 16


def extract_features(
    windows: Iterable[np.ndarray],
    encoder: FrameEncoder,
    flow_estimator: FlowEstimator | None = None,
    *,
    on_window: Callable[[int], None] | None = None,
    chunk_frames: int = CHUNK_FRAMES,
) -> np.ndarray:
    """Encode every frame of ``windows`` ([n, H, W, 3] uint8 each) into float32 [T, feature_dim].

    ``flow_estimator`` is required when ``encoder.uses_flow``; the flow image
    of the first frame is the zero-motion image. ``on_window(n_frames_done)``
    reports progress. Each window is analysed ``chunk_frames`` frames at a time (memory),
    with the same result whatever the windows and chunks.
    """
    if encoder.uses_flow and flow_estimator is None:
        raise ValueError(f"encoder {encoder.name!r} needs optical flow: pass a flow estimator")
    outputs, previous, done = [], None, 0
    if hasattr(encoder, "reset"):  # stateful encoders (e.g. frame differences) start afresh
        encoder.reset()
    for window in windows:
        window = np.ascontiguousarray(window)
        if window.ndim != 4 or window.shape[-1] != 3:
            raise ValueError(f"frames must be [n, H, W, 3] RGB, got shape {window.shape}")
        # a few frames at a time: the flow fields of a whole window (float32, 2 per pixel) would hold
        # ~120 MB at 224x224; a frame's features depend on no cut (carried frame, stateful encoder)
        for start in range(0, len(window), chunk_frames):
            frames = window[start : start + chunk_frames]
            flow_images = None
            if encoder.uses_flow:
                firsts = np.concatenate([frames[:1] if previous is None else previous, frames[:-1]])
                flow = flow_estimator.flow(firsts, frames)
                if previous is None:
                    flow[0] = 0.0  # the video's first frame has no predecessor: no motion
                flow_images = flow_to_image(flow)
            outputs.append(np.asarray(encoder.encode(frames, flow_images), dtype=np.float32))
            previous = frames[-1:]
        done += len(window)
        if on_window:
            on_window(done)
    if not outputs:
        raise ValueError("no frames to encode")
    return np.concatenate(outputs)
