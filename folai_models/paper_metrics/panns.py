"""PANNs Wavegram-Logmel-CNN14 (Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks
for Audio Pattern Recognition", IEEE/ACM TASLP 2020): the embedding of FAD-P.

Written from the published architecture (qiuqiangkong/audioset_tagging_cnn, MIT) with the module
names its checkpoint ``Wavegram_Logmel_Cnn14_mAP=0.439.pth`` uses, so that file loads strictly.
Two branches: a learned 1-D front end on the waveform (the "wavegram") and a log-mel CNN, joined
after the first 2-D block; the 2048-d ``fc1`` output is the embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from folai_models.rates import PANNS_SAMPLE_RATE

PANNS_WINDOW = 1024  # STFT window and FFT size, same source
PANNS_HOP = 320  # 10 ms at 32 kHz, same source
PANNS_MEL_BINS = 64  # same source
PANNS_FMIN, PANNS_FMAX = 50, 14000  # mel range in Hz, same source
PANNS_CLASSES = 527  # AudioSet ontology
WAVEGRAM_FOLD = 32  # the wavegram's channels are folded into 32 "frequency" rows (same source)


@dataclass(frozen=True)
class PannsConfig:
    """Widths of Wavegram-Logmel-CNN14; defaults are the published model, tests shrink ``width``.

    ``width`` scales every channel count (64 published); the front-end parameters never change.
    """

    width: int = 64
    classes: int = PANNS_CLASSES
    sample_rate: int = PANNS_SAMPLE_RATE
    window: int = PANNS_WINDOW
    hop: int = PANNS_HOP
    mel_bins: int = PANNS_MEL_BINS
    fmin: float = PANNS_FMIN
    fmax: float = PANNS_FMAX

    @property
    def embedding_dim(self) -> int:
        return 32 * self.width


class ConvBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and ReLU, then average pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool_size=(2, 2)) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool_size)


class ConvPreWavBlock(nn.Module):
    """The wavegram's 1-D block: a plain and a dilated convolution, then max pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, dilation=2, padding=2, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.bn2 = nn.BatchNorm1d(out_channels)

    def forward(self, x: torch.Tensor, pool_size: int) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool1d(x, kernel_size=pool_size)


class WavegramLogmelCnn14(nn.Module):
    """Waveform ``(batch, samples)`` at 32 kHz -> ``{"embedding": (batch, 2048), "clipwise_output": ...}``."""

    def __init__(self, config: PannsConfig = PannsConfig()):
        super().__init__()
        from torchlibrosa.stft import LogmelFilterBank, Spectrogram

        self.config = config
        w = config.width
        self.pre_conv0 = nn.Conv1d(1, w, kernel_size=11, stride=5, padding=5, bias=False)
        self.pre_bn0 = nn.BatchNorm1d(w)
        self.pre_block1 = ConvPreWavBlock(w, w)
        self.pre_block2 = ConvPreWavBlock(w, 2 * w)
        self.pre_block3 = ConvPreWavBlock(2 * w, 2 * w)
        self.pre_block4 = ConvBlock(2 * w // WAVEGRAM_FOLD, w)
        # torchlibrosa's STFT and mel bases are frozen parameters: they are in the checkpoint
        self.spectrogram_extractor = Spectrogram(n_fft=config.window, hop_length=config.hop, win_length=config.window,
                                                 window="hann", center=True, pad_mode="reflect",
                                                 freeze_parameters=True)
        self.logmel_extractor = LogmelFilterBank(sr=config.sample_rate, n_fft=config.window, n_mels=config.mel_bins,
                                                 fmin=config.fmin, fmax=config.fmax, ref=1.0, amin=1e-10, top_db=None,
                                                 freeze_parameters=True)
        self.bn0 = nn.BatchNorm2d(config.mel_bins)
        self.conv_block1 = ConvBlock(1, w)
        self.conv_block2 = ConvBlock(2 * w, 2 * w)
        self.conv_block3 = ConvBlock(2 * w, 4 * w)
        self.conv_block4 = ConvBlock(4 * w, 8 * w)
        self.conv_block5 = ConvBlock(8 * w, 16 * w)
        self.conv_block6 = ConvBlock(16 * w, 32 * w)
        self.fc1 = nn.Linear(32 * w, 32 * w)
        self.fc_audioset = nn.Linear(32 * w, config.classes)

    def forward(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        a1 = F.relu(self.pre_bn0(self.pre_conv0(waveform[:, None, :])))
        a1 = self.pre_block1(a1, pool_size=4)
        a1 = self.pre_block2(a1, pool_size=4)
        a1 = self.pre_block3(a1, pool_size=4)
        a1 = a1.reshape(a1.shape[0], -1, WAVEGRAM_FOLD, a1.shape[-1]).transpose(2, 3)
        a1 = self.pre_block4(a1, pool_size=(2, 1))

        x = self.logmel_extractor(self.spectrogram_extractor(waveform))  # (batch, 1, frames, mel)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        x = self.conv_block1(x)
        frames = min(x.shape[2], a1.shape[2])  # the two branches may differ by a frame at odd lengths
        x = torch.cat((x[:, :, :frames], a1[:, :, :frames]), dim=1)
        for block in (self.conv_block2, self.conv_block3, self.conv_block4, self.conv_block5):
            x = block(x)
        x = self.conv_block6(x, pool_size=(1, 1))
        x = torch.mean(x, dim=3)
        x = torch.max(x, dim=2).values + torch.mean(x, dim=2)
        embedding = F.relu(self.fc1(x))
        return {"embedding": embedding, "clipwise_output": torch.sigmoid(self.fc_audioset(embedding))}


def create_panns(config: PannsConfig | None = None) -> WavegramLogmelCnn14:
    """A Wavegram-Logmel-CNN14 in eval mode (random weights until a state dict is loaded)."""
    return WavegramLogmelCnn14(config or PannsConfig()).eval()


PANNS_MIN_SAMPLES = PANNS_HOP * 64  # the five 2x2 poolings need at least 64 frames (~0.64 s)


def panns_embed(model: WavegramLogmelCnn14, audio: np.ndarray, window_s: float, hop_s: float,
                device: str | torch.device = "cpu") -> torch.Tensor:
    """One embedding per ``window_s`` window every ``hop_s`` of mono audio at the model's rate.

    Windows past the end are zero-padded (fadtk's chunking of CLAP); a clip shorter than one window
    is one window. Returns ``(n_windows, embedding_dim)``.
    """
    rate = model.config.sample_rate
    size, hop = max(int(window_s * rate), PANNS_MIN_SAMPLES), max(1, int(hop_s * rate))
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    starts = range(0, max(1, audio.size - size + hop), hop) if audio.size > size else [0]
    chunks = np.stack([np.pad(audio[s:s + size], (0, size - audio[s:s + size].size)) for s in starts])
    with torch.inference_mode():
        return model(torch.from_numpy(chunks).to(device))["embedding"].float().cpu()
