"""AudioSep's separation network: a ResUNet on the STFT of 32 kHz mono audio, FiLM-conditioned on a query.

AudioSep (Liu et al., "Separate Anything You Describe", 2023) puts Kong et al.'s
ResUNet (ISMIR 2021, "Decoupling magnitude and phase estimation") behind a
512-d LAION-CLAP query embedding: every residual block adds a per-channel bias
(FiLM's beta, a linear map of the embedding) after each batch norm. The
network predicts a magnitude mask and a phase rotation per STFT bin; the
separated waveform is the inverse STFT of the masked, rotated mixture.

Module names and shapes follow the authors' code (Audio-AGI/AudioSep,
``models/resunet.py``) so that their checkpoint loads strictly: ``base.*``
(the U-Net, with the STFT/ISTFT kernels it trained with) and ``film.*``,
one ``nn.Linear`` per FiLM site named ``"<block>-><sub-block>->beta<n>"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from folai_models.rates import AUDIOSEP_SAMPLE_RATE
from folai_models.separation.stft import ConvISTFT, ConvSTFT

SPECTROGRAM_EPS = 1e-10  # AudioSep models/base.py wav_to_spectrogram_phase: floor of |X|^2
LEAKY_SLOPE = 0.01  # leaky ReLU slope of every block (AudioSep models/resunet.py)
MASK_COMPONENTS = 3  # per bin: magnitude mask, then real and imaginary parts of the phase rotation


@dataclass(frozen=True)
class ResUNetConfig:
    """Sizes of the separation network; the defaults are AudioSep base (``config/audiosep_base.yaml``).

    Parameters
    ----------
    sample_rate : Hz the network runs at (AudioSep trains at 32 kHz mono).
    n_fft, hop_length : STFT frame and hop (Hann window, centred, reflect padding).
    condition_size : width of the query embedding (LAION-CLAP's joint space).
    stem_channels : channels after the 1x1 input convolution (``pre_conv``).
    encoder_channels : output channels of ``encoder_block1..N``; the centre block keeps the last width.
    encoder_strides : average-pooling (time, frequency) of each encoder block; the decoder mirrors them.
    momentum : batch-norm momentum (training only; kept for the layout's sake).
    """

    sample_rate: int = AUDIOSEP_SAMPLE_RATE
    n_fft: int = 2048  # AudioSep models/resunet.py: window_size
    hop_length: int = 320  # 10 ms at 32 kHz
    condition_size: int = 512  # LAION-CLAP embedding width
    stem_channels: int = 32
    encoder_channels: tuple[int, ...] = (32, 64, 128, 256, 384, 384)
    encoder_strides: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 2), (2, 2), (2, 2), (1, 2))
    momentum: float = 0.01

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder_channels", tuple(int(c) for c in self.encoder_channels))
        object.__setattr__(self, "encoder_strides", tuple(tuple(int(v) for v in s) for s in self.encoder_strides))
        if len(self.encoder_channels) != len(self.encoder_strides) or not self.encoder_channels:
            raise ValueError("encoder_channels and encoder_strides need one entry per encoder block")
        if (self.n_fft // 2) % self.freq_ratio:
            raise ValueError(f"n_fft // 2 ({self.n_fft // 2}) must divide by the frequency pooling ({self.freq_ratio})")

    @property
    def time_ratio(self) -> int:
        """Frames the spectrogram is padded to a multiple of (product of the time strides)."""
        return int(np.prod([s[0] for s in self.encoder_strides]))

    @property
    def freq_ratio(self) -> int:
        return int(np.prod([s[1] for s in self.encoder_strides]))

    def to_dict(self) -> dict:
        return asdict(self)


AUDIOSEP_BASE = ResUNetConfig()
HOP_FRACTION = 320 / 2048  # AudioSep's hop / n_fft; a checkpoint holds no hop, so smaller STFTs keep the ratio


def _film_site(path: str, beta: str) -> str:
    """FiLM layer name of a block at module ``path``: AudioSep joins its ancestors with ``->``."""
    return "->".join([*path.split("."), beta])


class ConvBlockRes(nn.Module):
    """Two (BN + beta, leaky ReLU, 3x3 conv) steps and a residual connection (1x1 conv when widths differ)."""

    def __init__(self, in_channels: int, out_channels: int, momentum: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=momentum)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=momentum)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.film_widths = {"beta1": in_channels, "beta2": out_channels}
        self.film_path = ""

    def forward(self, x: torch.Tensor, betas: Mapping[str, torch.Tensor]) -> torch.Tensor:
        b1, b2 = (betas[_film_site(self.film_path, b)] for b in ("beta1", "beta2"))
        h = self.conv1(F.leaky_relu(self.bn1(x) + b1, LEAKY_SLOPE))
        h = self.conv2(F.leaky_relu(self.bn2(h) + b2, LEAKY_SLOPE))
        return (self.shortcut(x) if self.shortcut is not None else x) + h


class EncoderBlock(nn.Module):
    """A residual block, then average pooling; returns (pooled, unpooled) for the skip connection."""

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int], momentum: float):
        super().__init__()
        self.conv_block1 = ConvBlockRes(in_channels, out_channels, momentum)
        self.stride = stride

    def forward(self, x: torch.Tensor, betas: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv_block1(x, betas)
        return F.avg_pool2d(h, kernel_size=self.stride), h


class DecoderBlock(nn.Module):
    """BN + beta, leaky ReLU, transposed conv (up by ``stride``), concatenated skip, residual block.

    ``bn2`` and its beta are in the authors' layout but unused in their forward pass; kept so
    the checkpoint loads strictly.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int], momentum: float):
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=stride, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=momentum)
        self.conv_block2 = ConvBlockRes(2 * out_channels, out_channels, momentum)
        self.bn2 = nn.BatchNorm2d(in_channels, momentum=momentum)
        self.film_widths = {"beta1": in_channels, "beta2": in_channels}
        self.film_path = ""

    def forward(self, x: torch.Tensor, skip: torch.Tensor, betas: Mapping[str, torch.Tensor]) -> torch.Tensor:
        h = self.conv1(F.leaky_relu(self.bn1(x) + betas[_film_site(self.film_path, "beta1")], LEAKY_SLOPE))
        return self.conv_block2(torch.cat((h, skip), dim=1), betas)


class ResUNetBase(nn.Module):
    """The U-Net with its STFT front end: mixture ``[B, L]`` + FiLM betas -> separated ``[B, L]``."""

    def __init__(self, config: ResUNetConfig):
        super().__init__()
        c = config
        self.config = c
        self.stft = ConvSTFT(c.n_fft, c.hop_length)
        self.istft = ConvISTFT(c.n_fft, c.hop_length)
        self.bn0 = nn.BatchNorm2d(c.n_fft // 2 + 1, momentum=c.momentum)
        self.pre_conv = nn.Conv2d(1, c.stem_channels, 1)
        widths = (c.stem_channels, *c.encoder_channels)
        for i, stride in enumerate(c.encoder_strides, start=1):
            self.add_module(f"encoder_block{i}", EncoderBlock(widths[i - 1], widths[i], stride, c.momentum))
        self.conv_block7a = EncoderBlock(widths[-1], widths[-1], (1, 1), c.momentum)
        n = len(c.encoder_strides)
        for j in range(1, n + 1):  # decoder j mirrors encoder k = n + 1 - j and takes its output as the skip
            k = n + 1 - j
            self.add_module(f"decoder_block{j}", DecoderBlock(widths[min(k + 1, n)], widths[k],
                                                              c.encoder_strides[k - 1], c.momentum))
        self.after_conv = nn.Conv2d(widths[1], MASK_COMPONENTS, 1)
        self.n_blocks = n
        for path, module in self.named_modules():
            if hasattr(module, "film_widths"):
                module.film_path = path

    def film_sites(self) -> dict[str, int]:
        """``{FiLM layer name: width}`` in the authors' traversal order."""
        return {_film_site(path, beta): width for path, module in self.named_modules()
                if hasattr(module, "film_widths") for beta, width in module.film_widths.items()}

    def forward(self, mixture: torch.Tensor, betas: Mapping[str, torch.Tensor]) -> torch.Tensor:
        length = mixture.shape[-1]
        real, imag = self.stft(mixture)  # [B, 1, T, F]
        mag = torch.clamp(real ** 2 + imag ** 2, SPECTROGRAM_EPS) ** 0.5
        cos_in, sin_in = real / mag, imag / mag
        x = self.bn0(mag.transpose(1, 3)).transpose(1, 3)  # per-frequency normalisation
        n_frames = x.shape[2]
        x = F.pad(x, (0, 0, 0, -n_frames % self.config.time_ratio))
        x = self.pre_conv(x[..., :-1])  # 1025 -> 1024 bins: divisible by the frequency pooling
        skips = []
        for i in range(1, self.n_blocks + 1):
            x, skip = getattr(self, f"encoder_block{i}")(x, betas)
            skips.append(skip)
        x, _ = self.conv_block7a(x, betas)
        for j in range(1, self.n_blocks + 1):
            x = getattr(self, f"decoder_block{j}")(x, skips[-j], betas)
        x = F.pad(self.after_conv(x), (0, 1))[:, :, :n_frames]  # the dropped top bin gets logits 0
        return self._apply_mask(x, mag, cos_in, sin_in, length)

    def _apply_mask(self, logits: torch.Tensor, mag: torch.Tensor, cos_in: torch.Tensor, sin_in: torch.Tensor,
                    length: int) -> torch.Tensor:
        mask_mag = torch.sigmoid(logits[:, 0:1])
        mask_real, mask_imag = torch.tanh(logits[:, 1:2]), torch.tanh(logits[:, 2:3])
        mask_abs = torch.clamp((mask_real ** 2 + mask_imag ** 2) ** 0.5, SPECTROGRAM_EPS)  # torchlibrosa magphase
        mask_cos, mask_sin = mask_real / mask_abs, mask_imag / mask_abs
        # rotate the mixture's phase by the mask's angle: cos(a + b), sin(a + b)
        out_cos = cos_in * mask_cos - sin_in * mask_sin
        out_sin = sin_in * mask_cos + cos_in * mask_sin
        out_mag = F.relu(mag * mask_mag)
        return self.istft(out_mag * out_cos, out_mag * out_sin, length)


class FiLM(nn.Module):
    """One linear map of the query embedding per FiLM site; returns ``{site: [B, C, 1, 1]}``."""

    def __init__(self, sites: Mapping[str, int], condition_size: int):
        super().__init__()
        for name, width in sites.items():
            self.add_module(name, nn.Linear(condition_size, width))

    def forward(self, condition: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: layer(condition)[:, :, None, None] for name, layer in self.named_children()}


class ResUNet30(nn.Module):
    """AudioSep's separator: ``forward(mixture [B, L], condition [B, 512]) -> separated [B, L]`` at 32 kHz."""

    def __init__(self, config: ResUNetConfig = AUDIOSEP_BASE):
        super().__init__()
        self.config = config
        self.base = ResUNetBase(config)
        self.film = FiLM(self.base.film_sites(), config.condition_size)

    def forward(self, mixture: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        if mixture.ndim != 2 or condition.ndim != 2 or condition.shape[0] not in (1, mixture.shape[0]):
            raise ValueError(f"expected mixture [B, L] and condition [B or 1, {self.config.condition_size}], "
                             f"got {tuple(mixture.shape)} and {tuple(condition.shape)}")
        betas = self.film(condition)
        if condition.shape[0] != mixture.shape[0]:
            betas = {k: v.expand(mixture.shape[0], -1, -1, -1) for k, v in betas.items()}
        return self.base(mixture, betas)


def create_separator(config: ResUNetConfig | Mapping | None = None) -> ResUNet30:
    """The separation network at ``config``'s size (default AudioSep base), random weights, eval mode."""
    if config is None:
        config = AUDIOSEP_BASE
    elif not isinstance(config, ResUNetConfig):
        config = ResUNetConfig(**dict(config))
    return ResUNet30(config).eval()


def config_from_state_dict(state: Mapping[str, torch.Tensor]) -> ResUNetConfig:
    """The :class:`ResUNetConfig` a separator state dict (``base.*``, ``film.*``) was trained at.

    Read from the shapes (the STFT kernel, the block widths, the transposed
    convolutions' strides, the FiLM input width; the hop is ``n_fft *``
    :data:`HOP_FRACTION`, 320 at 2048); a strict load then checks
    every other key and shape against the network built from it.

    Raises
    ------
    ValueError
        Keys the layout needs are absent (not a ResUNet30 state dict).
    """
    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise ValueError(f"not an AudioSep ResUNet30 state dict: no {key!r}")
        return tuple(state[key].shape)

    n = 0
    while f"base.encoder_block{n + 1}.conv_block1.conv1.weight" in state:
        n += 1
    channels = tuple(shape(f"base.encoder_block{i}.conv_block1.conv1.weight")[0] for i in range(1, n + 1))
    # decoder j's transposed conv has kernel = stride of encoder n + 1 - j
    strides = tuple(tuple(shape(f"base.decoder_block{n + 1 - i}.conv1.weight")[2:]) for i in range(1, n + 1))
    film = next((k for k in state if k.startswith("film.") and k.endswith(".weight")), None)
    if film is None:
        raise ValueError("not an AudioSep ResUNet30 state dict: no FiLM layers ('film.*')")
    n_fft = shape("base.stft.conv_real.weight")[2]
    return ResUNetConfig(n_fft=n_fft, hop_length=round(n_fft * HOP_FRACTION), condition_size=shape(film)[1],
                         stem_channels=shape("base.pre_conv.weight")[0], encoder_channels=channels,
                         encoder_strides=strides)


__all__ = ["AUDIOSEP_BASE", "ResUNet30", "ResUNetConfig", "config_from_state_dict", "create_separator"]
