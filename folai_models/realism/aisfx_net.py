"""The aiSFX network: a 4-block CNN embedding (512-d) under per-library classifier heads.

Ma & Lerch, "Representation Learning for the Automatic Indexing of Sound Effects
Libraries", ISMIR 2022; weights CC-BY 4.0, shipped in the ``aisfx`` wheel. The released
model ("X-Sequential-CE") is a CrossNet: the embedding network of the DCASE 2018
cross-task baseline (Kong et al., arXiv:1808.00773; four blocks of
conv3x3-BN-ReLU twice then max pooling, 64-128-256-512 channels, mean over frequency
then max over time) shared by one classifier head per training library. Only the
embedding is used here; the heads exist so the published checkpoint loads strictly.

Module and parameter names follow the checkpoint's key layout
(``embedding_net.conv_block1.conv1.weight``, ``fc.0.0.weight``, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

WIDTH = 64  # aisfx load_bestModel: EmbeddingNet('max', 3, 1, 64): first block's channels, doubled per block
KERNEL_SIZE = 3  # same call: 3x3 convolutions, stride 1, padding 1
POOL_SIZES = ((2, 2), (2, 2), (2, 2), (1, 1))  # EmbeddingNet.forward: max pooling after each block
N_BLOCKS = 4


@dataclass(frozen=True)
class AiSFXConfig:
    """Size of an aiSFX network.

    Parameters
    ----------
    heads : tuple of (str, int)
        Classifier heads in checkpoint order (``fc.0``, ``fc.1``, ...): training library
        name and its number of classes.
    width : int
        Channels of the first block (64 in the paper); the embedding has ``8 * width``.
    kernel_size : int
        Convolution kernel (3 in the paper).
    """

    heads: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    width: int = WIDTH
    kernel_size: int = KERNEL_SIZE

    @property
    def embedding_dim(self) -> int:
        return self.width * 2 ** (N_BLOCKS - 1)

    @classmethod
    def from_ds_dict(cls, ds_dict: Mapping[str, tuple[int, int]], **kwargs) -> "AiSFXConfig":
        """From the checkpoint's ``ds_dict`` (``{library: (head index, n_classes)}``)."""
        ordered = sorted(ds_dict.items(), key=lambda item: int(item[1][0]))
        indices = [int(index) for _, (index, _) in ordered]
        if indices != list(range(len(indices))):
            raise ValueError(f"ds_dict head indices must be 0..{len(indices) - 1}, got {sorted(indices)}")
        return cls(heads=tuple((str(name), int(n_classes)) for name, (_, n_classes) in ordered), **kwargs)


class ConvBlock(nn.Module):
    """Two conv-BN-ReLU layers (no conv bias) then max pooling."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, pool: tuple[int, int]):
        super().__init__()
        padding = kernel_size // 2
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size, padding=padding, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, self.pool) if self.pool != (1, 1) else x


class EmbeddingNet(nn.Module):
    """(batch, frames, bands) log-mel blocks -> (batch, 8 * width) embeddings."""

    def __init__(self, width: int = WIDTH, kernel_size: int = KERNEL_SIZE):
        super().__init__()
        channels = [1] + [width * 2 ** i for i in range(N_BLOCKS)]
        for i, pool in enumerate(POOL_SIZES):
            self.add_module(f"conv_block{i + 1}", ConvBlock(channels[i], channels[i + 1], kernel_size, pool))

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        x = blocks.unsqueeze(1)  # (batch, 1, time, frequency)
        for i in range(N_BLOCKS):
            x = getattr(self, f"conv_block{i + 1}")(x)
        return x.mean(dim=3).amax(dim=2)  # mean over frequency, then max over time


def _head(embedding_dim: int, n_classes: int) -> nn.Sequential:
    # CrossNet: Linear(d, d/2) - ReLU - Linear(d/2, d/4) - ReLU - Linear(d/4, classes)
    return nn.Sequential(nn.Linear(embedding_dim, embedding_dim // 2), nn.ReLU(),
                         nn.Linear(embedding_dim // 2, embedding_dim // 4), nn.ReLU(),
                         nn.Linear(embedding_dim // 4, n_classes))


class AiSFXNet(nn.Module):
    """aiSFX's CrossNet: ``embed`` gives the 512-d sound-effects embedding; ``classify`` a head's logits.

    Parameters
    ----------
    ds_dict : mapping of str to (int, int), optional
        The checkpoint's ``{library: (head index, n_classes)}``; ``config.heads`` otherwise.
    width, kernel_size : int
        See :class:`AiSFXConfig` (tests build ``width=4``).
    config : AiSFXConfig, optional
        Used as is when given.
    """

    def __init__(self, ds_dict: Mapping[str, tuple[int, int]] | None = None, *, width: int = WIDTH,
                 kernel_size: int = KERNEL_SIZE, config: AiSFXConfig | None = None):
        super().__init__()
        if config is None:
            config = (AiSFXConfig.from_ds_dict(ds_dict, width=width, kernel_size=kernel_size) if ds_dict is not None
                      else AiSFXConfig(width=width, kernel_size=kernel_size))
        self.config = config
        self.embedding_net = EmbeddingNet(config.width, config.kernel_size)
        self.fc = nn.ModuleList([_head(config.embedding_dim, n) for _, n in config.heads])

    def embed(self, blocks: torch.Tensor) -> torch.Tensor:
        return self.embedding_net(blocks)

    def classify(self, blocks: torch.Tensor, library: str) -> torch.Tensor:
        names = [name for name, _ in self.config.heads]
        return self.fc[names.index(library)](self.embed(blocks))

    forward = embed


def create_aisfx_net(config: AiSFXConfig) -> AiSFXNet:
    """The factory every aiSFX network goes through (full size and test size alike)."""
    return AiSFXNet(config=config)


def fused_embedding_net(net: AiSFXNet) -> EmbeddingNet:
    """An inference copy of the embedding network with each BatchNorm folded into its convolution.

    Same outputs (up to float rounding) with one pass less over every feature map.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(net.embedding_net).eval()
    for i in range(N_BLOCKS):
        block = getattr(fused, f"conv_block{i + 1}")
        block.conv1 = fuse_conv_bn_eval(block.conv1, block.bn1)
        block.conv2 = fuse_conv_bn_eval(block.conv2, block.bn2)
        block.bn1 = block.bn2 = nn.Identity()
    return fused.requires_grad_(False)
