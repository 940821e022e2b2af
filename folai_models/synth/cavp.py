"""CAVP's video encoder (Diff-Foley stage 1), for FolAI's video conditioning at 4 fps (IV-D2).

Architecture as Diff-Foley's public ``CAVP_Inference.encode_video``: a
SlowOnly ResNet3d-50 (mmaction2 layout: 1x7x7 stem, no temporal striding,
temporal 3x1x1 kernels inflated in stages 3 and 4 only, pytorch-style
bottlenecks), spatial average pooling per frame, a linear projection 2048 ->
512 and, for conditioning, L2 normalisation and no temporal pooling: one
512-d embedding per input frame. Frames: RGB at 4 fps resized to 224 x 224,
scaled to [0, 1] (Diff-Foley's ``Resize`` + ``ToTensor``, no mean/std).

Module and parameter names follow mmaction2's (``conv1.conv``, ``conv1.bn``,
``layer3.0.downsample.conv``, ...) so Diff-Foley's checkpoint loads strictly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

CAVP_FRAME_SIZE = (224, 224)  # Diff-Foley Extract_CAVP_Features: video_shape=(224, 224)
CAVP_EMBED_DIM = 512  # Diff-Foley CAVP embed_dim
STAGE_BLOCKS = (3, 4, 6, 3)  # ResNet-50
STAGE_INFLATE = (0, 0, 1, 1)  # SlowOnly: temporal kernels in stages 3 and 4
SPATIAL_STRIDES = (1, 2, 2, 2)
BASE_CHANNELS = 64
EXPANSION = 4  # bottleneck expansion


class ConvBN(nn.Module):
    """Convolution, batch norm and optional ReLU, named like mmcv's ``ConvModule`` (``conv``, ``bn``)."""

    def __init__(self, in_channels, out_channels, kernel, stride=1, padding=0, relu=True):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm3d(out_channels)
        self.relu = relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x, inplace=True) if self.relu else x


class Bottleneck3d(nn.Module):
    def __init__(self, inplanes: int, planes: int, spatial_stride: int, inflate: bool):
        super().__init__()
        # '3x1x1' inflation: the temporal kernel sits on the first 1x1 convolution
        kernel1, pad1 = ((3, 1, 1), (1, 0, 0)) if inflate else ((1, 1, 1), (0, 0, 0))
        self.conv1 = ConvBN(inplanes, planes, kernel1, padding=pad1)
        self.conv2 = ConvBN(planes, planes, (1, 3, 3), stride=(1, spatial_stride, spatial_stride), padding=(0, 1, 1))
        self.conv3 = ConvBN(planes, planes * EXPANSION, 1, relu=False)
        self.downsample = None
        if spatial_stride != 1 or inplanes != planes * EXPANSION:
            self.downsample = ConvBN(inplanes, planes * EXPANSION, 1, stride=(1, spatial_stride, spatial_stride),
                                     relu=False)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.conv3(self.conv2(self.conv1(x))) + identity, inplace=True)


class ResNet3dSlowOnly(nn.Module):
    """SlowOnly ResNet3d: ``[B, 3, T, H, W]`` -> ``[B, 2048 * width, T, 1, 1]`` (frames kept, space pooled)."""

    def __init__(self, stage_blocks=STAGE_BLOCKS, base_channels: int = BASE_CHANNELS):
        super().__init__()
        self.conv1 = ConvBN(3, base_channels, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3))
        self.maxpool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        inplanes = base_channels
        for i, blocks in enumerate(stage_blocks):
            planes = base_channels * 2 ** i
            layer = [Bottleneck3d(inplanes if b == 0 else planes * EXPANSION, planes,
                                  SPATIAL_STRIDES[i] if b == 0 else 1, bool(STAGE_INFLATE[i])) for b in range(blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
            inplanes = planes * EXPANSION
        self.n_stages = len(stage_blocks)
        self.feat_dim = inplanes

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return F.adaptive_avg_pool3d(x, (x.shape[2], 1, 1))


class CAVPVideoEncoder(nn.Module):
    """Per-frame CAVP video embeddings: ``[B, T, 3, H, W]`` in [0, 1] -> ``[B, T, 512]`` (L2-normalised)."""

    def __init__(self, stage_blocks=STAGE_BLOCKS, base_channels: int = BASE_CHANNELS,
                 embed_dim: int = CAVP_EMBED_DIM):
        super().__init__()
        self.video_encoder = ResNet3dSlowOnly(stage_blocks, base_channels)
        self.video_project_head = nn.Linear(self.video_encoder.feat_dim, embed_dim)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        features = self.video_encoder(video.permute(0, 2, 1, 3, 4))  # B x C x T x 1 x 1
        features = features.flatten(2).transpose(1, 2)  # B x T x C
        return F.normalize(self.video_project_head(features), dim=-1)


def frames_to_tensor(frames, size: tuple[int, int] = CAVP_FRAME_SIZE) -> torch.Tensor:
    """RGB uint8 frames ``[T, H, W, 3]`` -> ``[T, 3, 224, 224]`` float in [0, 1] (bilinear resize)."""
    video = torch.as_tensor(frames).permute(0, 3, 1, 2).float() / 255.0
    if tuple(video.shape[-2:]) == tuple(size):
        return video
    return F.interpolate(video, size=size, mode="bilinear", align_corners=False, antialias=True)


def cavp_state_dict(checkpoint_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The video-encoder part of a Diff-Foley CAVP checkpoint (``module.`` removed, audio side dropped)."""
    state = {k.replace("module.", ""): v for k, v in checkpoint_state.items()}
    return {k: v for k, v in state.items() if k.startswith(("video_encoder.", "video_project_head."))}


def embed_frames(encoder: CAVPVideoEncoder, frames, *, clip_frames: int = 40, device="cpu") -> torch.Tensor:
    """CAVP embeddings ``[T, 512]`` of RGB frames ``[T, H, W, 3]`` at 4 fps, in clips of ``clip_frames``.

    Diff-Foley feeds its encoder clips of consecutive 4 fps frames (40 = 10 s);
    the temporal kernels see neighbours within a clip only.
    """
    video = frames_to_tensor(frames)
    out = []
    with torch.no_grad():
        for start in range(0, video.shape[0], clip_frames):
            clip = video[start:start + clip_frames].unsqueeze(0).to(device, next(encoder.parameters()).dtype)
            out.append(encoder(clip)[0].float().cpu())
    return torch.cat(out) if out else torch.zeros(0, encoder.video_project_head.out_features)
