"""Render audio of any length from an envelope in overlapping windows (SPEC stage 11).

Any renderer that maps an envelope slice to audio plugs in. Windows are cut,
where possible, inside a silent stretch of the envelope near the nominal
boundary, and joined with an equal-power crossfade (the windows are rendered
independently, so their signals are uncorrelated and equal power keeps the
level steady). Memory depends on the window length, not the video length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

WINDOW_S = 20.0  # rendering window; a 60 s window of the preview synth costs ~130 MB
OVERLAP_S = 0.1  # crossfade half-width around each cut
CUT_SEARCH_S = 4.0  # how far back from the nominal boundary to look for silence
SILENCE_RMS = 0.01  # class-0 threshold (Video-Foley rms_min): a silent frame

Renderer = Callable[[np.ndarray, int], np.ndarray]  # (envelope slice, window index) -> [channels, n]


def cut_frames(envelope: np.ndarray, frame_rate: float, *, window_s: float = WINDOW_S,
               overlap_s: float = OVERLAP_S, cut_search_s: float = CUT_SEARCH_S,
               silence_rms: float = SILENCE_RMS) -> list[int]:
    """Frame indices where windows meet (excluding 0 and the end).

    Each cut sits in the middle of the longest silent run within
    ``cut_search_s`` before the nominal boundary, else on the boundary.
    """
    n = len(envelope)
    window, overlap = int(round(window_s * frame_rate)), int(np.ceil(overlap_s * frame_rate))
    search = int(round(cut_search_s * frame_rate))
    if window <= 2 * overlap:
        raise ValueError("window_s must be more than twice overlap_s")
    silent = np.asarray(envelope) < silence_rms
    cuts, start = [], 0
    while start + window + overlap < n:
        nominal = start + window
        lo = max(start + 2 * overlap + 1, nominal - search)
        best, best_len, run_start = nominal, 0, None
        for f in range(lo, nominal + 1):
            if silent[f] and run_start is None:
                run_start = f
            if (not silent[f] or f == nominal) and run_start is not None:
                end = f if not silent[f] else f + 1
                if end - run_start > best_len:
                    best, best_len = (run_start + end) // 2, end - run_start
                run_start = None
        cuts.append(best)
        start = best
    return cuts


def window_spans(envelope: np.ndarray, frame_rate: float, *, window_s: float = WINDOW_S,
                 overlap_s: float = OVERLAP_S, cut_search_s: float = CUT_SEARCH_S) -> list[tuple[int, int]]:
    """Frame ranges ``(lo, hi)`` the renderer is given, window by window (crossfade regions included)."""
    n_frames = len(envelope)
    overlap = int(np.ceil(overlap_s * frame_rate))
    bounds = [0, *cut_frames(envelope, frame_rate, window_s=window_s, overlap_s=overlap_s,
                             cut_search_s=cut_search_s), n_frames]
    return [(max(0, a - overlap), min(n_frames, b + overlap)) for a, b in zip(bounds[:-1], bounds[1:])]


def frame_to_sample(frame: int, frame_rate: float, sample_rate: int) -> int:
    """The audio sample where envelope frame ``frame`` starts."""
    return int(round(frame * sample_rate / frame_rate))


def iter_windowed_render(render: Renderer, envelope: np.ndarray, frame_rate: float, sample_rate: int, *,
                         window_s: float = WINDOW_S, overlap_s: float = OVERLAP_S,
                         cut_search_s: float = CUT_SEARCH_S) -> Iterator[np.ndarray]:
    """Yield consecutive ``[channels, n]`` blocks that add up to the whole rendering.

    The total length is ``round(len(envelope) / frame_rate * sample_rate)``. Window
    ``index`` covers the frames ``window_spans(...)[index]``.
    """
    envelope = np.asarray(envelope)
    n_frames = len(envelope)
    overlap = int(np.ceil(overlap_s * frame_rate))
    spans = window_spans(envelope, frame_rate, window_s=window_s, overlap_s=overlap_s, cut_search_s=cut_search_s)

    def to_sample(frame: int) -> int:
        return frame_to_sample(frame, frame_rate, sample_rate)

    carry = None  # the previous window's audio over the current crossfade region
    for index, (lo, hi) in enumerate(spans):
        a, b = (lo + overlap if index > 0 else lo), (hi - overlap if hi < n_frames else hi)
        audio = render(envelope[lo:hi], index)
        n_expected = to_sample(hi) - to_sample(lo)
        audio = _fit(audio, n_expected)
        offset = to_sample(lo)
        head = to_sample(a + overlap) - offset if index > 0 else 0  # end of the fade-in region
        tail = to_sample(b - overlap) - offset if b < n_frames else audio.shape[1]
        if carry is not None:
            fade = np.linspace(0.0, np.pi / 2, head, endpoint=False)
            yield carry * np.cos(fade) + audio[:, :head] * np.sin(fade)
        yield audio[:, head:tail]
        carry = audio[:, tail:] if b < n_frames else None


def _fit(audio: np.ndarray, n: int) -> np.ndarray:
    if audio.shape[1] >= n:
        return audio[:, :n]
    return np.pad(audio, ((0, 0), (0, n - audio.shape[1])))


class BlockReader:
    """Sample ranges of a stream of ``[channels, n]`` blocks, read front to back.

    Only what a later read may still need is kept (reads may overlap the
    previous one, as crossfaded windows do, but never start before it), so
    memory follows the window length, not the stream's. Past the stream's
    end the audio is silence.
    """

    def __init__(self, blocks: Iterator[np.ndarray], channels: int = 2):
        self._blocks = iter(blocks)
        self._buffer = np.zeros((channels, 0), np.float32)
        self._offset = 0  # stream sample index of the buffer's first sample

    def read(self, start: int, end: int) -> np.ndarray:
        if start < self._offset:
            raise ValueError(f"sample {start} was already released (reads go front to back)")
        while self._offset + self._buffer.shape[1] < end:
            block = next(self._blocks, None)
            if block is None:
                break
            self._buffer = np.concatenate([self._buffer, np.asarray(block, np.float32)], axis=1)
        drop = start - self._offset
        self._buffer, self._offset = self._buffer[:, drop:], start
        out = self._buffer[:, : end - start]
        return _fit(out, end - start)
