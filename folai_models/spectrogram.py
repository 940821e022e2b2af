"""A log-power spectrogram of streamed audio, pooled in time to a bounded number of columns.

For pictures (before / after separation), not features: Hann-windowed frames
without overlap, their power averaged over groups of frames so that a
recording of any length gives at most ``max_columns`` columns.
"""

from __future__ import annotations

import math

import numpy as np

N_FFT = 1024  # 32 ms at 32 kHz: resolves footstep transients and their spectra
MAX_COLUMNS = 1600  # about one column per pixel of the plot
DB_FLOOR = -120.0  # power below 1e-12 draws as the floor


class StreamingSpectrogram:
    """Feed mono blocks with :meth:`update`; :meth:`finish` returns ``(power_db [bins, cols], column_s)``.

    Parameters
    ----------
    sample_rate : int
    expected_samples : int
        About how long the stream is (e.g. from its probed duration); sets the pooling.
    """

    def __init__(self, sample_rate: int, expected_samples: int, *, n_fft: int = N_FFT,
                 max_columns: int = MAX_COLUMNS):
        self.sample_rate, self.n_fft = sample_rate, n_fft
        self.group = max(1, math.ceil(max(expected_samples, 1) / n_fft / max_columns))
        self._window = np.hanning(n_fft).astype(np.float32)
        self._rest = np.zeros(0, np.float32)
        self._columns: list[np.ndarray] = []
        self._sum = np.zeros(n_fft // 2 + 1, np.float64)
        self._count = 0

    def update(self, block: np.ndarray) -> None:
        samples = np.concatenate([self._rest, np.asarray(block, np.float32).reshape(-1)])
        n_frames = len(samples) // self.n_fft
        self._rest = samples[n_frames * self.n_fft:]
        if not n_frames:
            return
        frames = samples[: n_frames * self.n_fft].reshape(n_frames, self.n_fft) * self._window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        for row in power:
            self._sum += row
            self._count += 1
            if self._count == self.group:
                self._columns.append(self._sum / self._count)
                self._sum, self._count = np.zeros_like(self._sum), 0

    def finish(self) -> tuple[np.ndarray, float]:
        """Log power in dB ``[n_fft // 2 + 1, columns]`` and the seconds each column spans."""
        if self._count:
            self._columns.append(self._sum / self._count)
            self._sum, self._count = np.zeros_like(self._sum), 0
        power = np.stack(self._columns, axis=1) if self._columns else np.zeros((self.n_fft // 2 + 1, 0))
        db = 10.0 * np.log10(np.maximum(power, 10.0 ** (DB_FLOOR / 10.0)))
        return db.astype(np.float32), self.group * self.n_fft / self.sample_rate


__all__ = ["StreamingSpectrogram"]
