"""Flow fields <-> uint8 flow images, as Video-Foley (and RegNet before it) store them.

Video-Foley clips each flow component to +-20 px, shifts it to [0, 40] and
scales it by 255 / 40, then casts to uint8 (truncation); x and y are written as
two grey JPEGs (``flow_x_*.jpg``, ``flow_y_*.jpg``) and its BN-Inception flow
stream reads them back as two single-channel images. It has no third channel.
Our frame encoders take 3-channel images, so here R = x, G = y and B is either
the level of zero flow (127, a neutral grey: default) or the clipped magnitude.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

# jnwnlee/video-foley preprocess/extract_rgb_flow_raft.py, compute_RAFT_optical_flow(bound=20).
FLOW_CLIP_PX = 20.0
# Same file: `rescaled_flows += bound; rescaled_flows *= 255/(2*bound)`, then `.to(torch.uint8)` (truncates).
FLOW_IMAGE_MAX = 255

ThirdChannel = Literal["neutral", "magnitude"]


def quantisation_step(clip_px: float = FLOW_CLIP_PX) -> float:
    """Pixels of flow per uint8 level: ``2 * clip_px / 255`` (0.157 px at +-20)."""
    return 2.0 * clip_px / FLOW_IMAGE_MAX


def _encode(values: np.ndarray, clip_px: float, out: np.ndarray | None = None) -> np.ndarray:
    """Video-Foley's mapping of one component: clip, shift, scale, truncate to uint8 (into ``out``).

    After the clip the scaled value lies in [0, 255], where truncation is the floor: one
    temporary array, no second clip.
    """
    scaled = np.clip(values, -clip_px, clip_px)
    scaled += clip_px
    scaled *= FLOW_IMAGE_MAX / (2.0 * clip_px)
    if out is None:
        return scaled.astype(np.uint8)
    np.copyto(out, scaled, casting="unsafe")
    return out


def flow_to_image(
    flow: np.ndarray, *, clip_px: float = FLOW_CLIP_PX, third_channel: ThirdChannel = "neutral"
) -> np.ndarray:
    """Flow fields -> uint8 images the way Video-Foley saves them.

    Parameters
    ----------
    flow : float [n, 2, H, W] in pixels (x then y), or one field [2, H, W].
    clip_px : components are clipped to +-clip_px before scaling.
    third_channel : "neutral" fills B with the level of zero flow (127);
        "magnitude" fills it with ``min(|flow|, clip_px) * 255 / clip_px``.

    Returns
    -------
    uint8 [n, H, W, 3] (or [H, W, 3] for one field): R = x, G = y, B as above.
    """
    flow = np.asarray(flow, dtype=np.float32)
    single = flow.ndim == 3
    if single:
        flow = flow[None]
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be [n, 2, H, W], got {flow.shape}")
    if clip_px <= 0:
        raise ValueError(f"clip_px must be positive, got {clip_px}")
    if third_channel not in ("neutral", "magnitude"):
        raise ValueError(f"third_channel must be 'neutral' or 'magnitude', got {third_channel!r}")
    images = np.empty((*flow[:, 0].shape, 3), dtype=np.uint8)
    _encode(flow[:, 0], clip_px, images[..., 0])
    _encode(flow[:, 1], clip_px, images[..., 1])
    if third_channel == "neutral":
        images[..., 2] = _encode(np.zeros(1, np.float32), clip_px)[0]
    else:
        magnitude = np.minimum(np.hypot(flow[:, 0], flow[:, 1]), clip_px) * (FLOW_IMAGE_MAX / clip_px)
        images[..., 2] = np.clip(np.floor(magnitude), 0, FLOW_IMAGE_MAX).astype(np.uint8)
    return images[0] if single else images


def image_to_flow(images: np.ndarray, *, clip_px: float = FLOW_CLIP_PX) -> np.ndarray:
    """Inverse of :func:`flow_to_image`: uint8 [n, H, W, >=2] -> float32 [n, 2, H, W] in pixels.

    Each level maps to the centre of its truncation bin (so zero flow comes back
    as exactly 0), clipped to +-clip_px: the error is at most half a
    :func:`quantisation_step` inside the clip range.
    """
    images = np.asarray(images)
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] < 2:
        raise ValueError(f"flow images must be [n, H, W, 3], got {images.shape}")
    levels = images[..., :2].astype(np.float32).transpose(0, 3, 1, 2)
    flow = np.clip((levels + 0.5) * quantisation_step(clip_px) - clip_px, -clip_px, clip_px).astype(np.float32)
    return flow[0] if single else flow
