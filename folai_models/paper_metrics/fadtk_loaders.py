"""fadtk ``ModelLoader`` s for the papers' FAD embeddings, reading weights from the model store.

fadtk's own loaders download at construction (and 1.1.0 has none for PANNs); these take an
embedding function built from offline weights, so ``fadtk.fad.FrechetAudioDistance`` and its
embedding cache work here. Names follow fadtk's (``clap-2023``, ``clap-laion-audio``) so caches
line up with fadtk's where the models are the same. Never call fadtk's ``get_all_models()``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from folai_models.realism.fad import import_fadtk

import_fadtk()  # first, so fadtk's import-time logging and traceback hooks are undone
from fadtk.model_loader import ModelLoader  # noqa: E402


class EmbeddingLoader(ModelLoader):
    """A fadtk loader around ``build() -> (audio at sr) -> (n_frames, dim) tensor``.

    Parameters
    ----------
    name, dim, sample_rate : fadtk's loader name (its cache folder), embedding width, input rate.
    build : callable
        Loads the network (once, on first use) and returns the embedding function.
    """

    def __init__(self, name: str, dim: int, sample_rate: int, build: Callable[[], Callable[[np.ndarray], torch.Tensor]]):
        super().__init__(name, dim, sample_rate)
        self._build = build

    def load_model(self):
        if self.model is None:
            self.model = self._build()

    def _get_embedding(self, audio: np.ndarray) -> torch.Tensor:
        self.load_model()
        return torch.as_tensor(self.model(np.asarray(audio, dtype=np.float32)))


# what each FAD is called in the papers -> fadtk loader name, embedding width, sample rate
FAD_EMBEDDINGS = {
    "fad_p": ("panns-wavegram-logmel", 2048, 32000),  # PANNs Wavegram-Logmel-CNN14 fc1
    "fad_c": ("clap-2023", 1024, 44100),  # MS-CLAP 2023 projected audio embedding
    "fad_lc": ("clap-laion-audio", 512, 48000),  # LAION-CLAP 630k-audioset HTSAT-tiny
}


def fad_loader(metric: str, build: Callable[[], Callable[[np.ndarray], torch.Tensor]]) -> EmbeddingLoader:
    """The fadtk loader of ``metric`` (a key of :data:`FAD_EMBEDDINGS`) around ``build``."""
    name, dim, rate = FAD_EMBEDDINGS[metric]
    return EmbeddingLoader(name, dim, rate, build)
