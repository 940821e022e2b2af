"""How fadtk cuts audio for its CLAP loaders: fixed windows every hop, the last ones zero-padded."""

from __future__ import annotations

import numpy as np


def windows(audio: np.ndarray, rate: int, window_s: float, hop_s: float) -> np.ndarray:
    """``(n_windows, window_s * rate)``: a window starting every ``hop_s`` up to the end, zero-padded."""
    audio = np.asarray(audio, np.float32).reshape(-1)
    size, hop = int(window_s * rate), int(hop_s * rate)
    starts = range(0, max(audio.size, 1), hop)
    return np.stack([np.pad(audio[s:s + size], (0, size - audio[s:s + size].size)) for s in starts])


def int16_roundtrip(audio: np.ndarray) -> np.ndarray:
    """Clip to [-1, 1] and quantize to 16 bits and back, as fadtk's LAION-CLAP loader does before embedding."""
    return (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767.0).astype(np.int16).astype(np.float32) / 32767.0
