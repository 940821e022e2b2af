"""aiSFX as a fadtk ``ModelLoader``, so fadtk's own ``FrechetAudioDistance`` can compute FAD-SFX.

fadtk's built-in loaders download weights when constructed; this one reads the weights
shipped in the ``aisfx`` wheel (Ma & Lerch, ISMIR 2022; model CC-BY 4.0) and never
touches the network. Never call fadtk's ``get_all_models()``: it builds those loaders.
"""

from __future__ import annotations

import numpy as np
import torch

from folai_models.rates import AISFX_SAMPLE_RATE
from folai_models.realism.fad import import_fadtk

import_fadtk()  # first, so fadtk's import-time logging and traceback hooks are undone
from fadtk.model_loader import ModelLoader  # noqa: E402

AISFX_LOADER_NAME = "aisfx"  # fadtk names its embedding cache folders after the loader
AISFX_DIM = 512  # the embedding width of the published model


class AiSFXLoader(ModelLoader):
    """fadtk loader for aiSFX: 44.1 kHz mono in, one 512-d frame per ~2.3 s block (hop ~1.2 s) out.

    Parameters
    ----------
    embedder : AiSFXEmbedder, optional
        Used as is (tests pass a tiny random one).
    load : callable, optional
        ``load(device) -> AiSFXEmbedder``, called on first use with fadtk's device
        (``tasks.realism_tasks.load_aisfx``: the published weights from the aisfx wheel).
    """

    def __init__(self, embedder=None, load=None):
        if (embedder is None) == (load is None):
            raise ValueError("give the embedder or the function that loads it, one of the two")
        dim = embedder.embedding_dim if embedder is not None else AISFX_DIM
        super().__init__(AISFX_LOADER_NAME, dim, AISFX_SAMPLE_RATE)
        self.model, self._load = embedder, load
        if embedder is not None:
            self.device = embedder.device

    def load_model(self):
        if self.model is None:
            self.model = self._load(self.device)

    def _get_embedding(self, audio: np.ndarray) -> torch.Tensor:
        self.load_model()
        return torch.from_numpy(self.model.embed(np.asarray(audio, dtype=np.float32), AISFX_SAMPLE_RATE))
