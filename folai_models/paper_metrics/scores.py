"""The papers' set-level scores over embeddings: FAD (any embedding), FAVD, CLAP score.

FAD-P / FAD-C / FAD-LC are fadtk's Fréchet distance (Kilgour et al., Interspeech 2019; Gui et al.,
ICASSP 2024) on PANNs Wavegram-Logmel-CNN14, MS-CLAP 2023 and LAION-CLAP embeddings. FAVD
(Fréchet Audio-Visual Distance, the PEAVS toolkit of Goncalves et al., 2024, ``compute_FAVD.py``)
joins each clip's I3D video features and VGGish audio features row by row, truncated to the shorter,
pools every clip's rows and takes the Fréchet distance of the two sets. The CLAP score is the mean
cosine similarity of LAION-CLAP embeddings of each generated clip and its reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from folai_models.realism.fad import embedding_statistics, frechet_distance
from folai_models.realism.fad import _stack as stack_clips


def fad(reference: Sequence[np.ndarray], generated: Sequence[np.ndarray]) -> float:
    """Fréchet distance between two sets of per-clip embeddings ``(n_frames, dim)`` (fadtk's)."""
    ref = stack_clips(reference, "reference")
    gen = stack_clips(generated, "generated", ref.shape[1])
    return frechet_distance(embedding_statistics(ref), embedding_statistics(gen))


def audio_visual_rows(video_features: np.ndarray, audio_features: np.ndarray) -> np.ndarray:
    """One clip's FAVD rows: ``[video_i, audio_i]`` for each row both have (the toolkit truncates)."""
    video, audio = np.asarray(video_features, np.float64), np.asarray(audio_features, np.float64)
    if video.ndim != 2 or audio.ndim != 2:
        raise ValueError(f"features must be (n_rows, dim), got {video.shape} and {audio.shape}")
    n = min(len(video), len(audio))
    if n == 0:
        raise ValueError("a clip without video or audio feature rows")
    return np.hstack([video[:n], audio[:n]])


def favd(reference: Sequence[tuple[np.ndarray, np.ndarray]], generated: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """FAVD between two sets of clips given as ``(i3d_features, vggish_features)`` pairs."""
    ref = [audio_visual_rows(v, a) for v, a in reference]
    gen = [audio_visual_rows(v, a) for v, a in generated]
    return fad(ref, gen)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float64)
    if vectors.ndim == 2:
        vectors = vectors.mean(axis=0)  # a long clip's windows: one clip-level embedding
    norm = np.linalg.norm(vectors)
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("a zero or non-finite CLAP embedding")
    return vectors / norm


def clap_score(reference: Mapping[str, np.ndarray], generated: Mapping[str, np.ndarray]) -> tuple[float, int]:
    """Mean cosine similarity of each generated clip's CLAP embedding with its reference's (same key).

    Returns
    -------
    (score, n_pairs)
        Score in [-1, 1] (higher: closer in CLAP's space); clips without a counterpart are ignored.

    Raises
    ------
    ValueError
        No key in common.
    """
    keys = sorted(set(reference) & set(generated))
    if not keys:
        raise ValueError("no generated clip has a reference of the same name")
    sims = [float(_unit(reference[k]) @ _unit(generated[k])) for k in keys]
    return float(np.mean(sims)), len(keys)
