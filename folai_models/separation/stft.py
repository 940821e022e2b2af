"""The STFT and inverse STFT AudioSep trained with, as convolutions with fixed DFT kernels.

AudioSep uses torchlibrosa 0.1.0's ``STFT`` / ``ISTFT`` (Hann window, centred,
reflect padding): the transforms are ``Conv1d`` layers whose weights are
windowed DFT matrices, and they are part of the checkpoint
(``base.stft.conv_real.weight``, ``base.istft.ola_window``, ...). These modules
compute the same thing with the same parameter names and shapes, but build
their kernels in closed form: torchlibrosa's constructors take several
seconds at n_fft 2048 (complex powers of a 2048 x 2048 matrix and a default
initialisation they then overwrite). ``tests/test_separation_model.py``
checks both against torchlibrosa.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

OLA_FLOOR = 1e-11  # torchlibrosa's clamp of the overlap-added window sum


def _hann(n: int) -> torch.Tensor:
    """Periodic Hann window (``librosa.filters.get_window('hann', n, fftbins=True)``), float64."""
    return torch.hann_window(n, periodic=True, dtype=torch.float64)


def _dft_angles(rows: int, n: int, sign: float) -> torch.Tensor:
    """``sign * 2 pi * (r * k mod n) / n`` for ``r < rows``, ``k < n`` (the modulo keeps it exact)."""
    r, k = torch.arange(rows, dtype=torch.int64), torch.arange(n, dtype=torch.int64)
    return (r[:, None] * k[None, :] % n).to(torch.float64) * (sign * 2 * math.pi / n)


class _FrozenConv1d(nn.Module):
    """A bias-free convolution with a fixed kernel, stored as ``weight`` (the checkpoint's name)."""

    def __init__(self, weight: torch.Tensor, stride: int = 1):
        super().__init__()
        self.weight = nn.Parameter(weight.float(), requires_grad=False)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight, stride=self.stride)


class ConvSTFT(nn.Module):
    """``[B, L]`` -> ``(real, imag)``, each ``[B, 1, frames, n_fft // 2 + 1]`` (torchlibrosa's layout)."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        angle = _dft_angles(n_fft // 2 + 1, n_fft, -1.0)  # [bins, samples]
        window = _hann(n_fft)[None, :]
        self.conv_real = _FrozenConv1d((torch.cos(angle) * window)[:, None, :], hop_length)
        self.conv_imag = _FrozenConv1d((torch.sin(angle) * window)[:, None, :], hop_length)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.pad(x[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        return (self.conv_real(x)[:, None].transpose(2, 3), self.conv_imag(x)[:, None].transpose(2, 3))


class ConvISTFT(nn.Module):
    """``(real, imag)`` ``[B, 1, frames, n_fft // 2 + 1]`` + length -> ``[B, length]``.

    Inverse DFT of each frame (Hermitian-completed) times the window, overlap-added
    and divided by the overlap-added squared window, centred: torchlibrosa's ISTFT.
    """

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        window = _hann(n_fft)
        # weight[out sample y, in bin x] = window[y] * exp(+2 pi i x y / n) / n
        angle = _dft_angles(n_fft, n_fft, 1.0).T
        self.conv_real = _FrozenConv1d((torch.cos(angle) * window[:, None] / n_fft)[:, :, None])
        self.conv_imag = _FrozenConv1d((torch.sin(angle) * window[:, None] / n_fft)[:, :, None])
        self.register_buffer("ola_window", (window ** 2).float())

    def forward(self, real: torch.Tensor, imag: torch.Tensor, length: int) -> torch.Tensor:
        real, imag = real[:, 0].transpose(1, 2), imag[:, 0].transpose(1, 2)  # [B, bins, frames]
        full_real = torch.cat((real, torch.flip(real[:, 1:-1], dims=[1])), dim=1)
        full_imag = torch.cat((imag, -torch.flip(imag[:, 1:-1], dims=[1])), dim=1)
        frames = self.conv_real(full_real) - self.conv_imag(full_imag)  # [B, n_fft, frames]
        n_frames = frames.shape[-1]
        samples = (n_frames - 1) * self.hop_length + self.n_fft
        fold = dict(output_size=(1, samples), kernel_size=(1, self.n_fft), stride=(1, self.hop_length))
        y = F.fold(frames, **fold)[:, 0, 0]
        window_sum = F.fold(self.ola_window[None, :, None].expand(1, -1, n_frames), **fold)[0, 0, 0]
        y = y / torch.clamp(window_sum, OLA_FLOOR)[None]
        start = self.n_fft // 2
        return y[:, start:start + length]


__all__ = ["ConvISTFT", "ConvSTFT"]
