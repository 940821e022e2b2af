"""MS-CLAP 2023's audio encoder (Elizalde et al., "Natural Language Supervision for General-Purpose
Audio Representations", ICASSP 2024): the embedding of FAD-C.

The network is msclap's own (HTS-AT audio transformer + projection to the 1024-d joint space),
built without its text side (GPT-2 from the hub) so it loads offline from the ``audio_encoder.*``
entries of ``CLAP_weights_2023.pth``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from folai_models.paper_metrics.chunks import windows
from folai_models.rates import MSCLAP_SAMPLE_RATE

MSCLAP_DURATION_S = 7  # config_2023.yml duration: fadtk's window for 'clap-2023'
MSCLAP_PROJECTION = 1024  # config_2023.yml d_proj
MSCLAP_REQUIREMENT = "msclap==1.3.4"
MSCLAP_INSTALL = f"pip install --no-deps {MSCLAP_REQUIREMENT}"  # its pins (numpy<2, transformers<5) are stale
MSCLAP_PREFIX = "audio_encoder."  # where the audio side sits in the published checkpoint


class MsClapAudio(nn.Module):
    """Waveform ``(batch, samples)`` -> projected embedding ``(batch, 1024)``; keys as msclap's AudioEncoder."""

    def __init__(self, embed_dim: int = 96, depths=(2, 2, 6, 2), num_heads=(4, 8, 16, 32),
                 d_proj: int = MSCLAP_PROJECTION):
        super().__init__()
        try:
            from msclap.models import config as htsat_config
            from msclap.models.clap import Projection
            from msclap.models.htsat import HTSAT_Swin_Transformer
        except ImportError as exc:
            raise ImportError(f"FAD-C needs msclap (not installed: {exc}); `{MSCLAP_INSTALL}`") from exc
        self.base = nn.Module()
        self.base.htsat = HTSAT_Swin_Transformer(embed_dim=embed_dim, depths=list(depths),
                                                 num_heads=list(num_heads), config=htsat_config)
        self.projection = Projection(embed_dim * 2 ** (len(depths) - 1), d_proj)

    @property
    def embedding_dim(self) -> int:
        return self.projection.linear1.out_features

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.projection(self.base.htsat(waveform)["latent_output"])


def create_msclap_audio(**sizes) -> MsClapAudio:
    return MsClapAudio(**sizes).eval()


def msclap_embed(model: MsClapAudio, audio: np.ndarray, hop_s: float = 1.0,
                 device: str | torch.device = "cpu") -> torch.Tensor:
    """``(n_windows, 1024)``: one embedding per 7 s window every ``hop_s`` (fadtk's 'clap-2023')."""
    chunks = windows(audio, MSCLAP_SAMPLE_RATE, MSCLAP_DURATION_S, hop_s)
    with torch.inference_mode():
        return torch.cat([model(torch.from_numpy(c[None]).to(device)).float().cpu() for c in chunks])
