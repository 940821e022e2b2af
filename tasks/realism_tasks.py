"""Tasks of the realism metric: a file's aiSFX embedding."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from data_catalog.media import extract_audio
from folai_models.rates import AISFX_SAMPLE_RATE
from tasks._options import keyed_by_file, pipeline_task



@lru_cache(maxsize=1)
def load_embedder(device: str = "cpu"):
    """The aiSFX embedding (loaded once per process; SonorizeError naming the install step if absent)."""
    from folai_models.realism import AiSFXEmbedder

    return AiSFXEmbedder.load(device=device)


@pipeline_task(name="aisfx-embedding", tags=("eval",), cache_key_fn=keyed_by_file("path", "device"))
def embed_file_task(path: str, device: str = "cpu") -> np.ndarray:
    """``(n_blocks, 512)`` aiSFX embedding of any audio or video file's sound (MediaError names a bad file)."""
    audio = extract_audio(path, sample_rate=AISFX_SAMPLE_RATE, n_channels=1)[0]
    return load_embedder(device).embed(audio, AISFX_SAMPLE_RATE)
