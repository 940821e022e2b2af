"""Tasks of the realism metric: a file's aiSFX embedding."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from data_catalog.media import extract_audio
from folai_models.rates import AISFX_SAMPLE_RATE
from tasks._options import keyed_by_file, pipeline_task



def load_aisfx(device: str = "cpu", path=None):
    """The published aiSFX model ("X-Sequential-CE") from the installed ``aisfx`` wheel.

    Raises
    ------
    data_catalog.model_store.packaged_weights.PackagedWeightsMissing
        aisfx is not installed (the message names ``pip install --no-deps aisfx==0.1.2``).
    data_catalog.model_store.UnsafeWeightsError, StateDictMismatchError, packaged_weights.PackagedWeightsCorrupt
        The checkpoint is refused, unreadable, or does not fit the network.
    """
    from data_catalog.model_store.loading import load_into
    from data_catalog.model_store.packaged_weights import aisfx_checkpoint_path, load_aisfx_checkpoint
    from folai_models.realism import AiSFXConfig, AiSFXEmbedder, create_aisfx_net

    path = path if path is not None else aisfx_checkpoint_path()
    state_dict, ds_dict = load_aisfx_checkpoint(path)
    net = create_aisfx_net(AiSFXConfig.from_ds_dict(ds_dict))
    load_into(net, state_dict, source=path)  # strict; a mismatch names the file and the keys
    return AiSFXEmbedder(net, device)


@lru_cache(maxsize=1)
def load_embedder(device: str = "cpu"):
    """The aiSFX embedding (loaded once per process; SonorizeError naming the install step if absent)."""
    return load_aisfx(device)


@pipeline_task(name="aisfx-embedding", tags=("eval",), cache_key_fn=keyed_by_file("path", "device"))
def embed_file_task(path: str, device: str = "cpu") -> np.ndarray:
    """``(n_blocks, 512)`` aiSFX embedding of any audio or video file's sound (MediaError names a bad file)."""
    audio = extract_audio(path, sample_rate=AISFX_SAMPLE_RATE, n_channels=1)[0]
    return load_embedder(device).embed(audio, AISFX_SAMPLE_RATE)
