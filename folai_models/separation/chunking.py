"""Separate audio of any length in overlapping windows, streamed, joined with linear crossfades.

The separator sees fixed windows (AudioSep trains on 5 s segments), so a long
recording is cut into windows that overlap by ``overlap`` samples. Both
neighbours estimate the same source over an overlap, so they are joined with
complementary linear ramps (weights summing to one: a constant signal passes
unchanged, no seam). Windows are processed in batches (GPU) as the input
streams in; memory depends on the window and batch sizes, never on the length.

AudioSep's own ``chunk_inference`` keeps the middle 3 s of each 5 s window
and returns zeros for inputs of 5 s or less; here every input gets windows,
the last one zero-padded to full length (the shape the network trained on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

WINDOW_S = 5.0  # AudioSep config/audiosep_base.yaml: segment_seconds (training segment)
OVERLAP_S = 2.0  # AudioSep chunk_inference discards 1 s each side of a 5 s window: same hop (3 s), crossfaded
BATCH_WINDOWS = 4  # windows per network call

WindowProcessor = Callable[[np.ndarray], np.ndarray]  # [n, window] mono windows -> [n, window]


@dataclass(frozen=True)
class ChunkPlan:
    """Window and overlap in samples; ``hop = window - overlap``."""

    window: int
    overlap: int

    def __post_init__(self) -> None:
        if self.window < 1 or self.overlap < 0 or 2 * self.overlap > self.window:
            raise ValueError(f"need window >= 1 and 0 <= overlap <= window / 2, got window {self.window}, "
                             f"overlap {self.overlap}")

    @classmethod
    def from_seconds(cls, sample_rate: int, window_s: float = WINDOW_S, overlap_s: float = OVERLAP_S) -> "ChunkPlan":
        return cls(int(round(window_s * sample_rate)), int(round(overlap_s * sample_rate)))

    @property
    def hop(self) -> int:
        return self.window - self.overlap

    def n_windows(self, n_samples: int) -> int:
        """Windows that cover ``n_samples`` (window k + 1 exists while window k ends before the last sample)."""
        if n_samples <= 0:
            return 0
        return 1 + max(0, -(-(n_samples - self.window) // self.hop))

    def ramps(self) -> tuple[np.ndarray, np.ndarray]:
        """Fade-in and fade-out over the overlap; they sum to one sample by sample."""
        fade_in = ((np.arange(self.overlap) + 0.5) / max(self.overlap, 1)).astype(np.float32)
        return fade_in, (1.0 - fade_in).astype(np.float32)


def iter_chunked(blocks: Iterable[np.ndarray], process: WindowProcessor, plan: ChunkPlan, *,
                 batch_windows: int = BATCH_WINDOWS) -> Iterator[np.ndarray]:
    """Run ``process`` over ``blocks`` (consecutive ``[channels, n]`` arrays) window by window.

    Parameters
    ----------
    blocks : iterable of float32 ``[channels, n]``
        The input, any number of blocks of any sizes (e.g. an ffmpeg stream).
    process : callable
        Maps mono windows ``[k, plan.window]`` to outputs of the same shape; each
        channel of each window is one row (channels are separated independently).
    plan : ChunkPlan
        Window and overlap.
    batch_windows : int
        Windows gathered before each ``process`` call.

    Yields
    ------
    float32 ``[channels, m]`` blocks whose concatenation has the input's length.
    """
    if batch_windows < 1:
        raise ValueError(f"batch_windows must be >= 1, got {batch_windows}")
    fade_in, fade_out = plan.ramps()
    buffer: np.ndarray | None = None  # input from sample `buffer_start` on
    buffer_start = next_start = 0
    carry: np.ndarray | None = None  # previous window's faded-out tail, to add to the next head
    ready: list[tuple[int, np.ndarray, bool]] = []  # (valid samples, window [C, W], is last)

    def flush() -> Iterator[np.ndarray]:
        nonlocal carry
        if not ready:
            return
        n_channels = ready[0][1].shape[0]
        stacked = np.concatenate([w for _, w, _ in ready]).astype(np.float32, copy=False)
        out = np.asarray(process(stacked), dtype=np.float32)
        if out.shape != stacked.shape:
            raise ValueError(f"the window processor returned shape {out.shape} for input {stacked.shape}")
        for i, (valid, _, last) in enumerate(ready):
            y = out[i * n_channels:(i + 1) * n_channels].copy()
            if carry is not None:
                y[:, :plan.overlap] = y[:, :plan.overlap] * fade_in + carry
            if last:
                carry = None
                yield y[:, :valid]
            else:
                carry = y[:, plan.hop:] * fade_out
                yield y[:, :plan.hop]
        ready.clear()

    def take(end_of_stream: bool) -> None:
        """Cut every window the buffer now allows into ``ready``."""
        nonlocal buffer, buffer_start, next_start
        while buffer is not None:
            available = buffer_start + buffer.shape[1]
            if next_start >= available and not (next_start == 0 and available > 0):
                break
            more_follows = available > next_start + plan.window
            if not (more_follows or end_of_stream):
                break
            offset = next_start - buffer_start
            window = buffer[:, offset:offset + plan.window]
            valid = window.shape[1]
            if valid < plan.window:
                window = np.pad(window, ((0, 0), (0, plan.window - valid)))
            ready.append((valid, window, not more_follows))
            if not more_follows:
                buffer = None
                break
            next_start += plan.hop
            buffer = buffer[:, next_start - buffer_start:]
            buffer_start = next_start

    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2:
            raise ValueError(f"blocks must be [channels, samples], got shape {block.shape}")
        if block.shape[1] == 0:
            continue
        buffer = block if buffer is None else np.concatenate([buffer, block], axis=1)
        take(end_of_stream=False)
        if len(ready) >= batch_windows:
            yield from flush()
    take(end_of_stream=True)
    yield from flush()


__all__ = ["BATCH_WINDOWS", "OVERLAP_S", "WINDOW_S", "ChunkPlan", "WindowProcessor", "iter_chunked"]
