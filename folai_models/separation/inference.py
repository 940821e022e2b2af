"""A loaded AudioSep: checkpoint split, query embedding, and streamed separation over any length.

The official checkpoint (``audiosep_base_4M_steps.ckpt``, a Lightning
checkpoint) holds the separator under ``ss_model.`` and the frozen LAION-CLAP
query encoder it trained with under ``query_encoder.model.`` (HTSAT-base audio
branch, RoBERTa text branch). AudioSep's own loader builds CLAP from
``music_speech_audioset_epoch_15_esc_89.98.pt`` and then overwrites it with the
checkpoint's copy, so the copy is what the authors' inference runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import torch

from folai_models.separation.chunking import BATCH_WINDOWS, ChunkPlan, WindowProcessor, iter_chunked
from folai_models.separation.resunet import ResUNet30

SEPARATOR_PREFIX = "ss_model."  # AudioSep LightningModule attribute of the ResUNet30
QUERY_PREFIX = "query_encoder.model."  # CLAP_Encoder.model: laion_clap's CLAP network
# laion_clap's HTSAT variants by patch-embedding width (clap_module/htsat.py create_htsat_model)
HTSAT_BY_WIDTH = {96: "HTSAT-tiny", 128: "HTSAT-base"}
DEFAULT_QUERY = "footstep sounds"  # FolAI's query for Walking The Maps (SPEC stage 12)


def split_audiosep_state(state: Mapping[str, torch.Tensor]) -> tuple[dict, dict]:
    """``(separator state, query-encoder state)`` of an AudioSep checkpoint, prefixes removed.

    The query-encoder part is empty when the checkpoint carries none.

    Raises
    ------
    ValueError
        Keys under neither prefix (listed): not an AudioSep checkpoint.
    """
    separator = {k[len(SEPARATOR_PREFIX):]: v for k, v in state.items() if k.startswith(SEPARATOR_PREFIX)}
    query = {k[len(QUERY_PREFIX):]: v for k, v in state.items() if k.startswith(QUERY_PREFIX)}
    other = [k for k in state if not k.startswith((SEPARATOR_PREFIX, QUERY_PREFIX))]
    if other or not separator:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
        raise ValueError("not an AudioSep checkpoint: " + (f"unexpected keys {shown}" if other
                                                              else f"no '{SEPARATOR_PREFIX}*' keys"))
    return separator, query


def query_audio_model(query_state: Mapping[str, torch.Tensor]) -> str:
    """laion_clap's audio model name (``HTSAT-base``, ...) a CLAP state dict was trained with."""
    key = "audio_branch.patch_embed.proj.weight"
    if key not in query_state:
        raise ValueError(f"not a LAION-CLAP HTSAT state dict: no {key!r}")
    width = int(query_state[key].shape[0])
    if width not in HTSAT_BY_WIDTH:
        raise ValueError(f"unknown HTSAT width {width} (known: {sorted(HTSAT_BY_WIDTH)})")
    return HTSAT_BY_WIDTH[width]


def window_processor(model: ResUNet30, condition: torch.Tensor) -> WindowProcessor:
    """A :data:`WindowProcessor` running ``model`` on ``condition`` ``[1, 512]`` (on the model's device)."""
    device = next(model.parameters()).device
    condition = condition.to(device=device, dtype=torch.float32).reshape(1, -1)

    def process(windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.from_numpy(np.ascontiguousarray(windows)).to(device), condition)
        return out.float().cpu().numpy()

    return process


def separate_stream(model: ResUNet30, condition: torch.Tensor, blocks: Iterable[np.ndarray], *,
                    plan: ChunkPlan | None = None, batch_windows: int = BATCH_WINDOWS) -> Iterator[np.ndarray]:
    """Separate streamed ``[channels, n]`` blocks at ``model.config.sample_rate``; yields separated blocks.

    Each channel is separated on its own with the same query.
    """
    plan = plan or ChunkPlan.from_seconds(model.config.sample_rate)
    return iter_chunked(blocks, window_processor(model, condition), plan, batch_windows=batch_windows)


def separate(model: ResUNet30, condition: torch.Tensor, audio: np.ndarray, **options) -> np.ndarray:
    """Separate a whole ``[channels, n]`` (or ``[n]``) array; same shape out. See :func:`separate_stream`."""
    audio = np.asarray(audio, dtype=np.float32)
    blocks = list(separate_stream(model, condition, [audio[None] if audio.ndim == 1 else audio], **options))
    out = np.concatenate(blocks, axis=1) if blocks else np.zeros((1 if audio.ndim == 1 else audio.shape[0], 0),
                                                                   np.float32)
    return out[0] if audio.ndim == 1 else out


__all__ = ["DEFAULT_QUERY", "QUERY_PREFIX", "SEPARATOR_PREFIX", "query_audio_model", "separate",
           "separate_stream", "split_audiosep_state", "window_processor"]
