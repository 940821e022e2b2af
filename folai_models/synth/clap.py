"""LAION-CLAP embeddings for FolAI's semantic conditioning (IV-D2): audio in training, audio or text at inference.

One joint 512-d space for audio and text, so a model trained on audio
embeddings accepts a text prompt at inference. The network is laion_clap's own
(HTSAT-tiny audio branch, RoBERTa text branch); weights come from the caller
(the model store), never from laion_clap's downloader. ``import laion_clap``
builds three tokenizers with ``from_pretrained`` at import time: the caller
must point Hugging Face at a local cache first (see
``data_catalog.model_store.offline_hf``).
"""

from __future__ import annotations

import numpy as np
import torch

from folai_models.rates import CLAP_SAMPLE_RATE

CLAP_AUDIO_MODEL = "HTSAT-tiny"  # 630k-audioset-best.pt's audio branch (non-fusion)
CLAP_TEXT_MODEL = "roberta"  # its text branch
DROPPED_KEYS = ("text_branch.embeddings.position_ids",)  # a buffer newer transformers no longer keep


class ClapEmbedder:
    """Frozen LAION-CLAP: ``embed_audio`` and ``embed_text`` return ``[n, 512]`` float32 tensors."""

    def __init__(self, module):
        self.module = module
        self.module.model.eval().requires_grad_(False)

    def embed_audio(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        """Embeddings of clips ``[n, samples]`` or ``[n, channels, samples]`` (downmixed, resampled to 48 kHz)."""
        import soxr

        audio = np.asarray(audio, np.float32)
        if audio.ndim == 3:
            audio = audio.mean(axis=1)
        if audio.ndim == 1:
            audio = audio[None]
        if sample_rate != CLAP_SAMPLE_RATE:
            audio = np.stack([soxr.resample(a, sample_rate, CLAP_SAMPLE_RATE) for a in audio]).astype(np.float32)
        with torch.no_grad():
            embedding = self.module.get_audio_embedding_from_data(x=audio, use_tensor=False)
        return torch.from_numpy(np.asarray(embedding, np.float32))

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            embedding = self.module.get_text_embedding(list(texts), use_tensor=False)
        return torch.from_numpy(np.asarray(embedding, np.float32))


def create_clap(state_dict: dict[str, torch.Tensor], device: str = "cpu",
                audio_model: str = CLAP_AUDIO_MODEL) -> ClapEmbedder:
    """laion_clap's ``CLAP_Module`` (``audio_model``, default HTSAT-tiny, + RoBERTa) with ``state_dict`` loaded strictly.

    AudioSep's query encoder is the same network with the HTSAT-base audio branch.
    """
    import laion_clap

    module = laion_clap.CLAP_Module(enable_fusion=False, amodel=audio_model, tmodel=CLAP_TEXT_MODEL, device=device)
    state = {k: v for k, v in state_dict.items() if k not in DROPPED_KEYS}
    module.model.load_state_dict(state, strict=True)
    return ClapEmbedder(module)
