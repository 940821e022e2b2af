"""FAD-SFX: Fréchet Audio Distance on aiSFX embeddings, computed by fadtk.

FAD (Kilgour et al., Interspeech 2019) fits a Gaussian to each set's embedding
frames and takes the Fréchet distance between the two; fadtk (Gui et al., ICASSP
2024) supplies the statistics and the distance, and its "individual" mode scores
each clip's own frames against the whole reference set, to show which outputs sound
least real. The embedding is aiSFX (Ma & Lerch, "Representation Learning for the
Automatic Indexing of Sound Effects Libraries", ISMIR 2022; model CC-BY 4.0).
Lower is more like the reference.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence

import numpy as np

FADTK_REQUIREMENT = "fadtk==1.1.0"
FADTK_INSTALL = f"pip install --no-deps {FADTK_REQUIREMENT} hypy_utils"
MIN_FRAMES = 2  # fadtk.calc_embd_statistics: a covariance needs two embedding frames


def import_fadtk():
    """``fadtk.fad``, imported without its global side effects.

    Importing fadtk configures the root logger (hypy_utils ``setup_logger``) and
    installs rich's traceback hook with local variables for every later error;
    both are put back as they were.

    Raises
    ------
    ImportError
        fadtk (or hypy_utils) is not installed; the message says how to install it.
    """
    if "fadtk.fad" in sys.modules:
        return sys.modules["fadtk.fad"]
    root = logging.getLogger()
    saved_hook, saved_handlers, saved_level = sys.excepthook, list(root.handlers), root.level
    try:
        import fadtk.fad
    except ImportError as exc:
        raise ImportError(f"FAD-SFX needs fadtk (not installed: {exc}); install it with `{FADTK_INSTALL}` "
                          "(fadtk's own pins would downgrade numpy) or `bash setup.sh test`") from exc
    finally:
        sys.excepthook = saved_hook
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    return fadtk.fad


def _frames(embedding, label: str, dim: int | None = None) -> np.ndarray:
    array = np.asarray(embedding, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{label}: embeddings must be (n_blocks, dim), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{label}: no embedding frames")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{label}: embedding dimension {array.shape[1]} differs from the reference's {dim}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{label}: embeddings contain NaN or infinite values")
    return array


def _stack(clips: Sequence, label: str, dim: int | None = None) -> np.ndarray:
    if isinstance(clips, np.ndarray) or not isinstance(clips, Sequence):
        raise TypeError(f"{label}: expected a list of per-clip embedding arrays, got {type(clips).__name__}")
    if len(clips) == 0:
        raise ValueError(f"{label}: no clips")
    frames = [_frames(clip, f"{label} clip {i}", dim) for i, clip in enumerate(clips)]
    dims = {f.shape[1] for f in frames}
    if len(dims) > 1:
        raise ValueError(f"{label}: clips have different embedding dimensions {sorted(dims)}")
    stacked = np.concatenate(frames, axis=0)
    if stacked.shape[0] < MIN_FRAMES:
        raise ValueError(f"{label}: {stacked.shape[0]} embedding frame in all; FAD needs at least {MIN_FRAMES} "
                         "(about 3.5 s of audio)")
    return stacked


def embedding_statistics(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of embedding frames (fadtk ``calc_embd_statistics``)."""
    return import_fadtk().calc_embd_statistics(frames)


def frechet_distance(reference_stats, generated_stats) -> float:
    """fadtk's ``calc_frechet_distance`` between two (mean, covariance) pairs."""
    (mu_ref, cov_ref), (mu_gen, cov_gen) = reference_stats, generated_stats
    return float(import_fadtk().calc_frechet_distance(mu_ref, cov_ref, mu_gen, cov_gen))


def fad_sfx(reference: Sequence[np.ndarray], generated: Sequence[np.ndarray]) -> float:
    """FAD-SFX between two sets of clips.

    Parameters
    ----------
    reference, generated : list of np.ndarray, each (n_blocks, dim)
        Per-clip aiSFX embeddings (:meth:`AiSFXEmbedder.embed`); each set's frames are pooled.

    Returns
    -------
    float
        The Fréchet distance of the two sets' Gaussians (0 for identical sets).
    """
    ref = _stack(reference, "reference")
    gen = _stack(generated, "generated", ref.shape[1])
    return frechet_distance(embedding_statistics(ref), embedding_statistics(gen))


def _low_rank_frechet(mu_ref: np.ndarray, cov_ref: np.ndarray, frames: np.ndarray) -> float:
    """Fréchet distance of a few frames' Gaussian to a reference Gaussian, exactly, in O(k d^2).

    With ``k`` centred frames ``Xc``, the clip covariance is ``Xc^T Xc / (k - 1)`` and the
    non-zero eigenvalues of ``cov_ref @ cov_clip`` are those of the k x k symmetric matrix
    ``Xc cov_ref Xc^T / (k - 1)``: the trace of the matrix square root fadtk takes with a
    512 x 512 ``sqrtm`` (seconds per clip) is the sum of their square roots (milliseconds).
    """
    mu, cov = embedding_statistics(frames)
    centred = frames - mu
    small = centred @ cov_ref @ centred.T / (frames.shape[0] - 1)
    tr_sqrt = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((small + small.T) / 2), 0.0, None))))
    diff = mu_ref - mu
    return float(diff @ diff + np.trace(cov_ref) + np.trace(cov) - 2.0 * tr_sqrt)


def per_clip_fad_sfx(reference: Sequence[np.ndarray], generated: Mapping[str, np.ndarray]) -> dict[str, float]:
    """FAD-SFX of each generated clip against the whole reference set (fadtk's "individual" mode).

    The reference statistics come from fadtk; each clip's distance uses the exact low-rank form
    of fadtk's Fréchet distance (a clip has far fewer frames than 512 dimensions), which agrees
    with ``calc_frechet_distance`` to rounding and is a thousand times faster.

    Parameters
    ----------
    reference : list of np.ndarray, each (n_blocks, dim)
    generated : dict of str to np.ndarray (n_blocks, dim)
        Clip name -> its embeddings; each clip needs at least two blocks (about 3.5 s).

    Returns
    -------
    dict of str to float
        Clip name -> score, worst (largest) first.
    """
    if not isinstance(generated, Mapping):
        raise TypeError(f"generated: expected a dict of clip name -> embeddings, got {type(generated).__name__}")
    if not generated:
        raise ValueError("generated: no clips")
    ref = _stack(reference, "reference")
    mu_ref, cov_ref = embedding_statistics(ref)
    scores = {}
    for name, clip in generated.items():
        frames = _frames(clip, f"clip {name!r}", ref.shape[1])
        if frames.shape[0] < MIN_FRAMES:
            raise ValueError(f"clip {name!r}: {frames.shape[0]} embedding frame; a per-clip score needs at least "
                             f"{MIN_FRAMES} (about 3.5 s of audio)")
        if frames.shape[0] <= frames.shape[1]:
            scores[str(name)] = _low_rank_frechet(mu_ref, cov_ref, frames)
        else:  # a clip longer than the dimension: full-rank, fadtk's own distance
            scores[str(name)] = frechet_distance((mu_ref, cov_ref), embedding_statistics(frames))
    return dict(sorted(scores.items(), key=lambda item: -item[1]))
