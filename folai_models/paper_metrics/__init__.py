"""The papers' audio and audio-visual metrics: FAD-P, FAD-C, FAD-LC, CLAP score, FAVD.

Networks (each written to load its published checkpoint strictly, weights from the model store):
PANNs Wavegram-Logmel-CNN14 (:mod:`.panns`), MS-CLAP 2023's audio encoder (:mod:`.msclap_audio`),
VGGish (:mod:`.vggish`) and I3D RGB (:mod:`.i3d`); LAION-CLAP is laion_clap's own
(:mod:`folai_models.synth.clap`). Scores over their embeddings are in :mod:`.scores`; fadtk
``ModelLoader`` s for the FAD embeddings in :mod:`.fadtk_loaders` (imported on use: fadtk is slow).
"""

from folai_models.paper_metrics.scores import audio_visual_rows, clap_score, fad, favd

__all__ = ["audio_visual_rows", "clap_score", "fad", "favd"]
