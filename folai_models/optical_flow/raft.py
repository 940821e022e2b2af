"""RAFT optical flow (torchvision ``raft_large`` / ``raft_small``), weights given as a state dict.

The network is always built with ``weights=None`` (torchvision never downloads);
the model store hands us the checkpoint's state dict. Inputs are preprocessed as
``Raft_Large_Weights.C_T_SKHT_V2.transforms()`` does, replicate-padded to
multiples of 8 (and to at least 128 px a side, the correlation pyramid's
minimum) and the flow cropped back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from folai_models.optical_flow.base import FlowEstimator, check_frame_pairs
from folai_models.optical_flow.registry import register_flow_estimator

# SPEC stage 5; torchvision.models.optical_flow.Raft_Large_Weights.C_T_SKHT_V2 (torchvision's DEFAULT).
RAFT_LARGE_WEIGHTS = "Raft_Large_Weights.C_T_SKHT_V2"
# torchvision raft_large/raft_small default `num_flow_updates` (RAFT paper: 12 at inference).
RAFT_NUM_FLOW_UPDATES = 12
# torchvision RAFT.forward: "input image H and W should be divisible by 8".
RAFT_SIZE_MULTIPLE = 8
# torchvision CorrBlock.build_pyramid: feature maps (1/8 of the image) need >= 2 * 2 ** (num_levels - 1).
RAFT_MIN_FEATURE_SIZE_FACTOR = 2
# torchvision transforms._presets.OpticalFlow: normalize(mean=0.5, std=0.5) maps [0, 1] to [-1, 1].
RAFT_INPUT_MEAN = 0.5
RAFT_INPUT_STD = 0.5
# Pairs per forward pass; RAFT's all-pairs correlation volume grows as (H*W/64)^2 per pair.
RAFT_BATCH_SIZE = 8

RaftSize = Literal["large", "small"]


def _build_network(size: RaftSize) -> torch.nn.Module:
    """torchvision's RAFT with random weights (``weights=None``: nothing is downloaded)."""
    from torchvision.models.optical_flow import raft_large, raft_small

    if size == "large":
        return raft_large(weights=None, progress=False)
    if size == "small":
        return raft_small(weights=None, progress=False)
    raise ValueError(f"RAFT size must be 'large' or 'small', got {size!r}")


def state_dict_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over sorted keys, dtypes, shapes and values: what a set of weights is."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_state_dict(expected: Mapping[str, torch.Tensor], given: Mapping[str, Any], what: str) -> None:
    """Raise ValueError naming missing / unexpected keys and shape mismatches, if any."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mismatched = [
        f"{key}: expected {tuple(expected[key].shape)}, got {tuple(getattr(given[key], 'shape', ()))}"
        for key in sorted(set(expected) & set(given))
        if tuple(getattr(given[key], "shape", ())) != tuple(expected[key].shape)
    ]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", mismatched)):
        if items:
            shown = ", ".join(items[:5]) + (f", ... ({len(items)} in all)" if len(items) > 5 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise ValueError(f"state dict does not fit {what}: " + "; ".join(problems))


@register_flow_estimator("raft")
class RaftFlow(FlowEstimator):
    """RAFT flow between frame pairs, batched, on CPU or CUDA.

    Parameters
    ----------
    size : "large" (SPEC: ``raft_large``, C_T_SKHT_V2 weights) or "small".
    num_flow_updates : refinement iterations (12 by default; fewer is faster and coarser).
    device : torch device ("cpu", "cuda", "cuda:1", ...).
    batch_size : pairs per forward pass.
    """

    uses_device = True

    def __init__(
        self,
        size: RaftSize = "large",
        num_flow_updates: int = RAFT_NUM_FLOW_UPDATES,
        device: str | torch.device = "cpu",
        batch_size: int = RAFT_BATCH_SIZE,
    ) -> None:
        if num_flow_updates < 1:
            raise ValueError(f"num_flow_updates must be >= 1, got {num_flow_updates}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.size = size
        self.num_flow_updates = int(num_flow_updates)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.network = _build_network(size).to(self.device).eval()
        num_levels = self.network.corr_block.num_levels  # 4 for both sizes: images of >= 128 px a side
        self.min_size = RAFT_SIZE_MULTIPLE * RAFT_MIN_FEATURE_SIZE_FACTOR * 2 ** (num_levels - 1)
        self._weights_digest: str | None = None  # None: random weights

    @property
    def weights_name(self) -> str:
        """Model-store entry of the checkpoint (``raft-large``: torchvision's C_T_SKHT_V2)."""
        return f"raft-{self.size}"

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a checkpoint strictly: every key, no extra key, every shape must match.

        Raises
        ------
        ValueError : listing missing / unexpected keys and wrong shapes.
        """
        expected = self.network.state_dict()
        check_state_dict(expected, state_dict, f"torchvision raft_{self.size}")
        self.network.load_state_dict(state_dict, strict=True)
        self._weights_digest = state_dict_digest(self.network.state_dict())

    def revision(self) -> str:
        """``raft_<size>-u<updates>-<weights sha256[:16] | random>`` (feature-cache key)."""
        weights = self._weights_digest[:16] if self._weights_digest else "random"
        return f"raft_{self.size}-u{self.num_flow_updates}-{weights}"

    def _prepare(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [n, H, W, 3] -> float [n, 3, H, W] in [-1, 1] on the device (the C_T_SKHT_V2 transforms)."""
        tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2)
        tensor = tensor.float() / 255.0
        return ((tensor - RAFT_INPUT_MEAN) / RAFT_INPUT_STD).contiguous()

    def _padded(self, length: int) -> int:
        """The side length RAFT gets: a multiple of 8, at least :attr:`min_size`."""
        return max(-(-length // RAFT_SIZE_MULTIPLE) * RAFT_SIZE_MULTIPLE, self.min_size)

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flow from ``first`` to ``second``: uint8 [n, H, W, 3] pairs -> float32 [n, 2, H, W] in pixels."""
        first, second = check_frame_pairs(first, second)
        n, height, width, _ = first.shape
        out = np.empty((n, 2, height, width), dtype=np.float32)
        if n == 0:
            return out
        # Replicate-pad symmetrically (RAFT's InputPadder, "sintel" mode) to multiples of 8, and
        # small frames up to the correlation pyramid's minimum size.
        pad_h = self._padded(height) - height
        pad_w = self._padded(width) - width
        padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                stop = min(start + self.batch_size, n)
                image1 = self._prepare(first[start:stop])
                image2 = self._prepare(second[start:stop])
                if pad_h or pad_w:
                    image1 = F.pad(image1, padding, mode="replicate")
                    image2 = F.pad(image2, padding, mode="replicate")
                predictions = self.network(image1, image2, num_flow_updates=self.num_flow_updates)
                flow = predictions[-1][:, :, padding[2] : padding[2] + height, padding[0] : padding[0] + width]
                out[start:stop] = flow.float().cpu().numpy()
        return out


def consecutive_flow(
    estimator: FlowEstimator, frames: np.ndarray, previous_frame: np.ndarray | None = None
) -> np.ndarray:
    """Flow into each frame of a window: float32 [n, 2, H, W], flow ``i`` = frame ``i - 1`` -> frame ``i``.

    Parameters
    ----------
    estimator : any :class:`FlowEstimator`.
    frames : uint8 [n, H, W, 3], consecutive frames of one video.
    previous_frame : uint8 [H, W, 3], the frame just before this window (the last
        frame of the previous window); None for the video's first window, whose
        first flow is then all zeros (no motion into the first frame).

    Windows processed in turn, each passing its last frame on, concatenate to
    exactly what one call on the whole video gives.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [n, H, W, 3], got {frames.shape}")
    n, height, width, _ = frames.shape
    if n == 0:
        return np.zeros((0, 2, height, width), dtype=np.float32)
    if previous_frame is None:
        head = np.zeros((1, 2, height, width), dtype=np.float32)
        if n == 1:
            return head
        return np.concatenate([head, estimator.flow(frames[:-1], frames[1:])]).astype(np.float32, copy=False)
    previous_frame = np.asarray(previous_frame)
    if previous_frame.shape != frames.shape[1:]:
        raise ValueError(f"previous_frame must be {frames.shape[1:]}, got {previous_frame.shape}")
    firsts = np.concatenate([previous_frame[None], frames[:-1]])
    return estimator.flow(firsts, frames).astype(np.float32, copy=False)
