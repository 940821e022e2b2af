"""The RMS envelope of audio that arrives in blocks (long recordings, flat memory).

Gives exactly :func:`folai_models.envelope.rms_envelope` of the concatenated
blocks: the same reflect padding at both ends, the same frames in between.
"""

from __future__ import annotations

import librosa
import numpy as np

from folai_models.envelope import FRAME_LENGTH, HOP_LENGTH


class StreamingRmsEnvelope:
    """Feed mono blocks with :meth:`update`; :meth:`finish` returns the whole envelope.

    Only the envelope (1 value per hop) and less than one frame of audio are
    kept between blocks.
    """

    def __init__(self, *, frame_length: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH):
        if hop_length > frame_length or hop_length < 1:
            raise ValueError("need 1 <= hop_length <= frame_length")
        self.frame_length, self.hop_length = frame_length, hop_length
        self.pad = (frame_length - hop_length) // 2
        self._buffer = np.zeros(0, np.float32)  # padded signal not yet framed
        self._head: np.ndarray | None = np.zeros(0, np.float32)  # first samples, until the start padding is made
        self._tail = np.zeros(0, np.float32)  # last pad + 1 samples, for the end padding
        self._frames: list[np.ndarray] = []
        self.n_samples = 0
        self.peak = 0.0

    def update(self, block: np.ndarray) -> None:
        """Add the next mono block (any length, float)."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 1:
            raise ValueError(f"blocks must be mono 1-D arrays, got shape {block.shape}")
        if not np.all(np.isfinite(block)):
            raise ValueError("audio contains NaN or infinite values")
        if block.size == 0:
            return
        self.n_samples += block.size
        self.peak = max(self.peak, float(np.max(np.abs(block))))
        self._tail = np.concatenate([self._tail, block])[-(self.pad + 1):]
        if self._head is not None:
            # the start padding reflects samples 1..pad: wait until they have arrived
            self._head = np.concatenate([self._head, block])
            if self._head.size <= self.pad:
                return
            block = np.concatenate([self._head[1:self.pad + 1][::-1], self._head])
            self._head = None
        self._buffer = np.concatenate([self._buffer, block])
        self._frame_buffer()

    def _frame_buffer(self) -> None:
        n = 1 + (self._buffer.size - self.frame_length) // self.hop_length if self._buffer.size >= self.frame_length else 0
        if n <= 0:
            return
        used = self._buffer[: (n - 1) * self.hop_length + self.frame_length]
        rms = librosa.feature.rms(y=used, frame_length=self.frame_length, hop_length=self.hop_length, center=False)
        self._frames.append(rms[0].astype(np.float32))
        self._buffer = self._buffer[n * self.hop_length:]

    def finish(self) -> np.ndarray:
        """Add the end padding and return the envelope of everything fed."""
        if self._head is not None:  # fewer than pad + 1 samples in all
            raise ValueError(f"audio is too short ({self.n_samples} samples) for one RMS frame")
        end = self._tail[-self.pad - 1:-1][::-1]
        self._buffer = np.concatenate([self._buffer, end])
        self._frame_buffer()
        self._buffer = np.zeros(0, np.float32)
        return np.concatenate(self._frames) if self._frames else np.zeros(0, np.float32)
