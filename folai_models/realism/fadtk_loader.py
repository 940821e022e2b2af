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
        Used as is (tests pass a tiny random one); by default ``load_model`` loads the
        published weights from the installed aisfx wheel onto fadtk's device.
    """

    def __init__(self, embedder=None):
        dim = embedder.embedding_dim if embedder is not None else AISFX_DIM
        super().__init__(AISFX_LOADER_NAME, dim, AISFX_SAMPLE_RATE)
        self.model = embedder
        if embedder is not None:
            self.device = embedder.device

    def load_model(self):
        if self.model is None:
            from folai_models.realism.embedder import AiSFXEmbedder

            self.model = AiSFXEmbedder.load(device=self.device)

    def _get_embedding(self, audio: np.ndarray) -> torch.Tensor:
        self.load_model()
        return torch.from_numpy(self.model.embed(np.asarray(audio, dtype=np.float32), AISFX_SAMPLE_RATE))
