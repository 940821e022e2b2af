"""Realism metric FAD-SFX: Fréchet Audio Distance (fadtk) on aiSFX sound-effects embeddings.

aiSFX is the model of Ma & Lerch, "Representation Learning for the Automatic Indexing
of Sound Effects Libraries", ISMIR 2022 (model CC-BY 4.0), trained on professional
sound-effects libraries; its weights ship inside the ``aisfx`` wheel.

    emb = tasks.realism_tasks.load_aisfx(device="cpu")   # the published weights, read by the data catalog
    E = emb.embed(audio, sample_rate)             # (n_blocks, 512) float32
    fad_sfx(reference_embeddings, generated_embeddings)
    per_clip_fad_sfx(reference_embeddings, {"clip": E, ...})

``AiSFXLoader`` (fadtk's ModelLoader) is imported on first use: importing fadtk is slow.
"""

from folai_models.realism.aisfx_net import AiSFXConfig, AiSFXNet, create_aisfx_net
from folai_models.realism.embedder import AiSFXEmbedder
from folai_models.realism.fad import fad_sfx, per_clip_fad_sfx

__all__ = ["AiSFXConfig", "AiSFXEmbedder", "AiSFXLoader", "AiSFXNet", "create_aisfx_net", "fad_sfx",
           "per_clip_fad_sfx"]


def __getattr__(name: str):
    if name == "AiSFXLoader":
        from folai_models.realism.fadtk_loader import AiSFXLoader

        return AiSFXLoader
    raise AttributeError(name)
