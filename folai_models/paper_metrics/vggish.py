"""VGGish (Hershey et al., "CNN Architectures for Large-Scale Audio Classification", ICASSP 2017):
the audio half of FAVD.

Written from the published model (tensorflow/models research/audioset/vggish, Apache-2.0) with the
module names of its PyTorch port's checkpoint (harritaylor/torchvggish ``vggish-10086976.pth``), so
that file loads strictly. Input: log-mel patches of 0.96 s (96 frames x 64 bands, 16 kHz);
output: one 128-d embedding per patch, before PCA whitening (the raw ``vggish/embedding`` tensor the
FAVD toolkit's feature extractor saves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from folai_models.rates import VGGISH_SAMPLE_RATE

VGGISH_WINDOW_S = 0.025  # vggish_params.STFT_WINDOW_LENGTH_SECONDS
VGGISH_HOP_S = 0.010  # vggish_params.STFT_HOP_LENGTH_SECONDS
VGGISH_MEL_BANDS = 64  # vggish_params.NUM_MEL_BINS
VGGISH_FMIN, VGGISH_FMAX = 125.0, 7500.0  # vggish_params.MEL_MIN_HZ / MEL_MAX_HZ
VGGISH_LOG_OFFSET = 0.01  # vggish_params.LOG_OFFSET: log(mel + 0.01)
VGGISH_PATCH_FRAMES = 96  # vggish_params.NUM_FRAMES: 0.96 s patches, hop 0.96 s
VGGISH_EMBEDDING = 128  # vggish_params.EMBEDDING_SIZE


@dataclass(frozen=True)
class VGGishConfig:
    """``width`` scales the convolution channels (64 published), ``fc`` the hidden layers (4096)."""

    width: int = 64
    fc: int = 4096
    embedding_dim: int = VGGISH_EMBEDDING


class VGGish(nn.Module):
    """Log-mel patches ``(n, 1, 96, 64)`` -> embeddings ``(n, 128)``."""

    def __init__(self, config: VGGishConfig = VGGishConfig()):
        super().__init__()
        self.config = config
        w = config.width
        layers: list[nn.Module] = []
        channels = 1
        for out, n_convs in ((w, 1), (2 * w, 1), (4 * w, 2), (8 * w, 2)):  # VGG configuration "A", 4 stages
            for _ in range(n_convs):
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(inplace=True)]
                channels = out
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(8 * w * (VGGISH_PATCH_FRAMES // 16) * (VGGISH_MEL_BANDS // 16), config.fc), nn.ReLU(inplace=True),
            nn.Linear(config.fc, config.fc), nn.ReLU(inplace=True),
            nn.Linear(config.fc, config.embedding_dim))  # no activation: TF's fc2 has none

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        x = self.features(patches)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # flatten channels-last, as the TF graph did
        return self.embeddings(x)


def create_vggish(config: VGGishConfig | None = None) -> VGGish:
    return VGGish(config or VGGishConfig()).eval()


def _hz_to_mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)  # HTK mel, as mel_features.py


def mel_matrix(n_fft_bins: int, sample_rate: int = VGGISH_SAMPLE_RATE) -> np.ndarray:
    """``(n_fft_bins, 64)`` triangular mel weights of VGGish's front end (DC bin zeroed)."""
    bins_mel = _hz_to_mel(np.linspace(0.0, sample_rate / 2, n_fft_bins))
    edges = np.linspace(_hz_to_mel(VGGISH_FMIN), _hz_to_mel(VGGISH_FMAX), VGGISH_MEL_BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((bins_mel[:, None] - lower) / (centre - lower),
                                         (upper - bins_mel[:, None]) / (upper - centre)))
    weights[0, :] = 0.0
    return weights


def log_mel_patches(audio: np.ndarray) -> np.ndarray:
    """Mono 16 kHz audio -> ``(n_patches, 1, 96, 64)`` float32 (a short clip is zero-padded to one patch)."""
    window = int(round(VGGISH_WINDOW_S * VGGISH_SAMPLE_RATE))
    hop = int(round(VGGISH_HOP_S * VGGISH_SAMPLE_RATE))
    n_fft = 1 << (window - 1).bit_length()
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    need = window + hop * (VGGISH_PATCH_FRAMES - 1)
    if audio.size < need:
        audio = np.pad(audio, (0, need - audio.size))
    n_frames = 1 + (audio.size - window) // hop
    frames = np.lib.stride_tricks.sliding_window_view(audio, window)[::hop][:n_frames]
    periodic_hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
    magnitude = np.abs(np.fft.rfft(frames * periodic_hann, n_fft))
    log_mel = np.log(magnitude @ mel_matrix(magnitude.shape[1]) + VGGISH_LOG_OFFSET)
    n_patches = log_mel.shape[0] // VGGISH_PATCH_FRAMES
    patches = log_mel[:n_patches * VGGISH_PATCH_FRAMES].reshape(n_patches, VGGISH_PATCH_FRAMES, VGGISH_MEL_BANDS)
    return patches[:, None].astype(np.float32)


def vggish_embed(model: VGGish, audio: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """``(n_patches, 128)`` VGGish embeddings of mono 16 kHz audio."""
    with torch.inference_mode():
        return model(torch.from_numpy(log_mel_patches(audio)).to(device)).float().cpu().numpy()
