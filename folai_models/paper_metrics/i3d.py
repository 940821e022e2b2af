"""I3D RGB (Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017): the video half of FAVD.

Inception-v1 inflated to 3-D, trained on Kinetics-400. Written from the published architecture with
the module names of the PyTorch port the FAVD toolkit's feature extractor loads
(hassony2/kinetics_i3d_pytorch ``model_rgb.pth``, as v-iashin/video_features' ``i3d_rgb.pt``), so
that file loads strictly. Features: the 1024 channels after the last Inception block, average-pooled
over space and time, one vector per stack of 64 frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

I3D_STACK_FRAMES = 64  # video_features DEFAULT_I3D_STACK_SIZE (2.56 s at 25 fps)
I3D_STEP_FRAMES = 64  # video_features DEFAULT_I3D_STEP_SIZE (no overlap)
I3D_RESIZE = 256  # video_features: shorter side resized to 256 ...
I3D_CROP = 224  # ... then a 224 x 224 centre crop
I3D_CLASSES = 400  # Kinetics-400
# Inception modules: (name, [branch0, branch1 reduce, branch1, branch2 reduce, branch2, branch3]) (I3D Fig. 3)
MIXED = (
    ("mixed_3b", (64, 96, 128, 16, 32, 32)), ("mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("mixed_4b", (192, 96, 208, 16, 48, 64)), ("mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("mixed_4d", (128, 128, 256, 24, 64, 64)), ("mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("mixed_4f", (256, 160, 320, 32, 128, 128)),
    ("mixed_5b", (256, 160, 320, 32, 128, 128)), ("mixed_5c", (384, 192, 384, 48, 128, 128)),
)
POOL_BEFORE = {"mixed_3b": ((1, 3, 3), (1, 2, 2)), "mixed_4b": ((3, 3, 3), (2, 2, 2)), "mixed_5b": ((2, 2, 2), (2, 2, 2))}


def _same_padding(kernel, stride) -> tuple[int, ...]:
    """TensorFlow 'SAME' padding for inputs divisible by the stride, in F.pad's (W, H, T) order."""
    pads = []
    for k, s in zip(reversed(kernel), reversed(stride)):
        total = max(k - s, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class Unit3D(nn.Module):
    """Conv3d ('SAME') + BatchNorm3d + ReLU; the logits layer has a bias and neither of the others."""

    def __init__(self, in_channels, out_channels, kernel=(1, 1, 1), stride=(1, 1, 1), logits=False):
        super().__init__()
        self.pad = _same_padding(kernel, stride)
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, bias=logits)
        self.batch3d = None if logits else nn.BatchNorm3d(out_channels)

    def forward(self, x):
        x = self.conv3d(F.pad(x, self.pad))
        return x if self.batch3d is None else F.relu(self.batch3d(x))


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.pad = _same_padding(kernel, stride)
        self.pool = nn.MaxPool3d(kernel, stride, ceil_mode=True)

    def forward(self, x):
        return self.pool(F.pad(x, self.pad))  # zero padding: inputs are post-ReLU


class Mixed(nn.Module):
    def __init__(self, in_channels, c):
        super().__init__()
        self.branch_0 = Unit3D(in_channels, c[0])
        self.branch_1 = nn.Sequential(Unit3D(in_channels, c[1]), Unit3D(c[1], c[2], (3, 3, 3)))
        self.branch_2 = nn.Sequential(Unit3D(in_channels, c[3]), Unit3D(c[3], c[4], (3, 3, 3)))
        self.branch_3 = nn.Sequential(MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(in_channels, c[5]))
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x):
        return torch.cat([self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)], 1)


@dataclass(frozen=True)
class I3DConfig:
    """``divisor`` divides every channel count (1 published; tests use 16); ``in_channels`` 3 for RGB."""

    divisor: int = 1
    in_channels: int = 3
    classes: int = I3D_CLASSES


class I3D(nn.Module):
    """Clips ``(batch, 3, frames, H, W)`` in [-1, 1] -> features ``(batch, 1024)`` (``features``)."""

    def __init__(self, config: I3DConfig = I3DConfig()):
        super().__init__()
        self.config = config
        d = config.divisor
        self.conv3d_1a_7x7 = Unit3D(config.in_channels, 64 // d, (7, 7, 7), (2, 2, 2))
        self.maxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.conv3d_2b_1x1 = Unit3D(64 // d, 64 // d)
        self.conv3d_2c_3x3 = Unit3D(64 // d, 192 // d, (3, 3, 3))
        channels = 192 // d
        for name, widths in MIXED:
            if name in POOL_BEFORE:
                setattr(self, {"mixed_3b": "maxPool3d_3a_3x3", "mixed_4b": "maxPool3d_4a_3x3",
                               "mixed_5b": "maxPool3d_5a_2x2"}[name], MaxPool3dSame(*POOL_BEFORE[name]))
            block = Mixed(channels, [c // d for c in widths])
            setattr(self, name, block)
            channels = block.out_channels
        self.feature_dim = channels
        self.conv3d_0c_1x1 = Unit3D(channels, config.classes, logits=True)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.conv3d_2c_3x3(self.conv3d_2b_1x1(self.maxPool3d_2a_3x3(self.conv3d_1a_7x7(clips))))
        x = self.maxPool3d_3a_3x3(x)
        for name, _ in MIXED:
            if name == "mixed_4b":
                x = self.maxPool3d_4a_3x3(x)
            elif name == "mixed_5b":
                x = self.maxPool3d_5a_2x2(x)
            x = getattr(self, name)(x)
        # the published AvgPool3d((2, 7, 7), stride 1) on a 224 crop, then the mean over time
        x = F.avg_pool3d(x, (min(2, x.shape[2]), x.shape[3], x.shape[4]), stride=1)
        return x.mean(dim=(2, 3, 4))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.features(clips)


def create_i3d(config: I3DConfig | None = None) -> I3D:
    return I3D(config or I3DConfig()).eval()


def prepare_frames(frames: np.ndarray, crop: int = I3D_CROP, resize: int = I3D_RESIZE) -> torch.Tensor:
    """RGB uint8 frames ``(T, H, W, 3)`` -> ``(3, T, crop, crop)`` in [-1, 1]: shorter side to ``resize``,
    centre crop (video_features' I3D transforms); frames already ``crop`` x ``crop`` (cropped by the
    decoder) are used as they are."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    if (h, w) == (crop, crop):
        return (2 * x / 255 - 1).permute(1, 0, 2, 3)
    scale = resize / min(h, w)
    x = F.interpolate(x, size=(max(crop, round(h * scale)), max(crop, round(w * scale))), mode="bilinear",
                      align_corners=False)
    top, left = (x.shape[-2] - crop) // 2, (x.shape[-1] - crop) // 2
    x = x[..., top:top + crop, left:left + crop]
    return (2 * x / 255 - 1).permute(1, 0, 2, 3)


def i3d_embed(model: I3D, frames: np.ndarray, stack: int = I3D_STACK_FRAMES, step: int = I3D_STEP_FRAMES,
              crop: int = I3D_CROP, resize: int = I3D_RESIZE, device: str | torch.device = "cpu") -> np.ndarray:
    """One I3D feature per full stack of ``stack`` frames every ``step`` (a partial last stack is dropped,
    as video_features does; a clip shorter than one stack is one stack, its last frame repeated)."""
    frames = np.asarray(frames)
    if len(frames) < stack:
        frames = np.concatenate([frames, np.repeat(frames[-1:], stack - len(frames), axis=0)])
    out = []
    with torch.inference_mode():
        for start in range(0, len(frames) - stack + 1, step):
            clip = prepare_frames(frames[start:start + stack], crop, resize)[None].to(device)
            out.append(model.features(clip).float().cpu().numpy()[0])
    return np.stack(out)
