"""aiSFX embeddings of audio: one 512-d vector per ~2.3 s block, hop ~1.2 s.

The sound-effects embedding of Ma & Lerch, "Representation Learning for the
Automatic Indexing of Sound Effects Libraries", ISMIR 2022 (model CC-BY 4.0), trained
on professional sound-effects libraries; FAD on it is what sonorize calls FAD-SFX.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from folai_models.realism import aisfx_frontend as frontend
from folai_models.realism.aisfx_net import AiSFXConfig, AiSFXNet, create_aisfx_net, fused_embedding_net

BATCH_BLOCKS = 32  # blocks per forward pass: bounded memory (~60 MB of activations at full width)
MAX_CHANNELS = 64  # a 2-D array with more "channels" than this is taken for (n, channels) by mistake


def prepare_audio(audio, sample_rate: int) -> np.ndarray:
    """Mono float32 audio at 44.1 kHz: channels averaged, then resampled with soxr.

    Parameters
    ----------
    audio : array_like, shape (n,) or (channels, n)
    sample_rate : int
        Of ``audio``, in Hz.

    Raises
    ------
    ValueError
        Not 1-D or (channels, n), empty, not finite, or a bad sample rate.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    array = np.asarray(audio)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"audio must be numeric, got dtype {array.dtype}")
    if array.ndim == 2:
        if array.shape[0] > MAX_CHANNELS:
            raise ValueError(f"audio of shape {array.shape}: expected (channels, n) with at most {MAX_CHANNELS} "
                             "channels; transpose (n, channels) audio first")
        array = array.mean(axis=0, dtype=np.float64)
    elif array.ndim != 1:
        raise ValueError(f"audio must be (n,) or (channels, n), got shape {array.shape}")
    if array.size == 0:
        raise ValueError("audio is empty")
    mono = array.astype(np.float32)
    if not np.all(np.isfinite(mono)):
        raise ValueError("audio contains NaN or infinite samples")
    if sample_rate != frontend.AISFX_SAMPLE_RATE:
        import soxr

        mono = soxr.resample(mono, int(sample_rate), frontend.AISFX_SAMPLE_RATE).astype(np.float32, copy=False)
        if mono.size == 0:  # a few samples at a low rate can resample to nothing
            mono = np.zeros(1, dtype=np.float32)
    return mono


class AiSFXEmbedder:
    """Audio -> aiSFX embeddings (``embed``); built from a loaded :class:`AiSFXNet`.

    Parameters
    ----------
    net : AiSFXNet
        With its weights loaded (``load`` / ``from_state_dict``) or random (tests).
    device : str or torch.device
    batch_blocks : int
        Blocks per forward pass.
    """

    def __init__(self, net: AiSFXNet, device: str | torch.device = "cpu", batch_blocks: int = BATCH_BLOCKS):
        self.device = torch.device(device)
        self.net = net.eval().requires_grad_(False)
        # channels-last convolutions measured ~15% faster on CPU (oneDNN); same results
        self._embedding_net = fused_embedding_net(self.net).to(self.device, memory_format=torch.channels_last)
        self.batch_blocks = int(batch_blocks)

    @property
    def embedding_dim(self) -> int:
        return self.net.config.embedding_dim

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], ds_dict: Mapping[str, tuple[int, int]],
                        *, device: str | torch.device = "cpu", **config) -> "AiSFXEmbedder":
        """Build the network for ``ds_dict`` (``config``: width, kernel_size) and load ``state_dict`` strictly."""
        net = create_aisfx_net(AiSFXConfig.from_ds_dict(ds_dict, **config))
        net.load_state_dict(dict(state_dict), strict=True)
        return cls(net, device)

    def blocks(self, audio, sample_rate: int) -> np.ndarray:
        """The network's input blocks, shape (n_blocks, 100, 96) (see :mod:`aisfx_frontend`)."""
        spectrogram = frontend.log_mel_spectrogram(prepare_audio(audio, sample_rate))
        return frontend.spectrogram_blocks(spectrogram)

    def embed_blocks(self, blocks: np.ndarray) -> np.ndarray:
        """Embeddings of input blocks (n, 100, 96) -> (n, embedding_dim) float32, in batches."""
        out = np.empty((len(blocks), self.embedding_dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(blocks), self.batch_blocks):
                batch = torch.from_numpy(np.ascontiguousarray(blocks[start:start + self.batch_blocks]))
                out[start:start + len(batch)] = self._embedding_net(batch.to(self.device)).float().cpu().numpy()
        return out

    def embed(self, audio, sample_rate: int) -> np.ndarray:
        """aiSFX embeddings of one clip.

        Parameters
        ----------
        audio : array_like, shape (n,) or (channels, n)
            Float audio (channels are averaged; resampled to 44.1 kHz with soxr).
        sample_rate : int

        Returns
        -------
        np.ndarray, shape (n_blocks, 512), float32
            One row per 100-frame block (~2.32 s) at a hop of 50 frames (~1.16 s); a trailing
            partial block is dropped, a clip shorter than one block is zero-padded to one.
        """
        return self.embed_blocks(self.blocks(audio, sample_rate))
