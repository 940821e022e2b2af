"""Continuous signal streams: granular beds, procedural room tone, a small room.

Each stream keeps its state between calls, so a long rendering produced
block by block has no seams: ``read(n)`` returns the next ``n`` samples.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from folai_models.preview_synth.measure import EPS

GRAIN_OVERLAP = 2.0  # mean grains sounding at once (Hann windows at 50 % overlap sum to ~1)
GRAIN_HOP_JITTER = 0.2  # +-20 % random hop: no periodic comb
ROOM_RT60_S = 0.35  # small room: reverberation time
ROOM_PREDELAY_S = 0.006  # first reflections arrive after this
ROOM_IR_S = 0.5  # impulse response length (RT60 plus headroom)
ROOM_DAMPING_HZ = 5000.0  # walls absorb highs: the tail is low-passed here
ROOM_TONE_FIR_TAPS = 2047  # room tone shaping filter: ~22 Hz resolution at 44.1 kHz, down to the rumble band
# A real room's floor is not stationary (ventilation, distant traffic, the recordist moving): on
# greatest-hits-dev the floor's level (20th percentile of 1 s windows) varies by 1.7 dB (median std
# over recordings), a stationary bed's by 0.6. The procedural bed drifts between random levels:
ROOM_TONE_DRIFT_DB = 2.5  # std of the levels (dB; 1.96 dB on that measure; FAD-SFX 131.8 -> 130.4) ...
ROOM_TONE_DRIFT_HZ = 0.7  # ... a new level this often, cosine-interpolated (2 Hz: soft false onsets)
SOFT_CLIP_KNEE = 0.9  # samples above this are rounded off ...
SOFT_CLIP_CEILING = 0.99  # ... so no sample exceeds this


SPLICE_FADE_S = 0.01  # crossfade between spliced regions: no click, too short to blur a soft touch


class SpliceStream:
    """Regions of a recording played whole, one after another, in random order.

    Each region starts at a random point of its first half and plays to its
    end; equal-power crossfades join them. Unlike grains, a soft touch in a
    region sounds once and whole, as it was recorded.

    Parameters
    ----------
    sources : list of np.ndarray
        Mono regions on one scale (their pooled RMS sets the stream's).
    sample_rate : int
    rng : np.random.Generator
    """

    def __init__(self, sources: list[np.ndarray], sample_rate: int, rng: np.random.Generator):
        self._fade = max(1, int(SPLICE_FADE_S * sample_rate))
        self._sources = [np.asarray(s, np.float32) for s in sources if s.size > 4 * self._fade]
        if not self._sources:
            raise ValueError(f"a splice stream needs a region longer than {4 * SPLICE_FADE_S:.2f} s")
        ramp = np.sin(np.linspace(0.0, np.pi / 2, self._fade, dtype=np.float32))
        self._in, self._out = ramp, ramp[::-1].copy()  # sin/cos: equal power over uncorrelated regions
        self._rng = rng
        self._buffer = self._region()

    def _region(self) -> np.ndarray:
        x = self._sources[int(self._rng.integers(len(self._sources)))]
        start = int(self._rng.integers(0, max(1, (x.size - 2 * self._fade) // 2)))
        return x[start:]

    def read(self, n: int) -> np.ndarray:
        while self._buffer.size < n + self._fade:
            nxt = self._region().copy()
            nxt[: self._fade] = nxt[: self._fade] * self._in + self._buffer[-self._fade :] * self._out
            self._buffer = np.concatenate([self._buffer[: -self._fade], nxt])
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


class GranularStream:
    """Endless overlap-add of Hann-windowed grains read at random from source clips.

    Parameters
    ----------
    sources : list of np.ndarray
        Mono clips (unit RMS) to read grains from; clips shorter than a grain
        are used whole.
    grain_s : float
        Grain length in seconds.
    sample_rate : int
    rng : np.random.Generator
    """

    def __init__(self, sources: list[np.ndarray], grain_s: float, sample_rate: int, rng: np.random.Generator):
        clips = [np.asarray(s, np.float32) for s in sources if s.size >= 2]
        if not clips:
            raise ValueError("a granular stream needs at least one source clip")
        self._length = max(2, min(int(grain_s * sample_rate), max(s.size for s in clips)))
        usable = [s for s in clips if s.size >= self._length]  # equal grains: the overlap never leaves a gap
        self._source = np.concatenate(usable)
        self._starts = np.concatenate([[0], np.cumsum([s.size for s in usable])[:-1]])
        self._sizes = np.array([s.size for s in usable])
        self._window = np.hanning(self._length).astype(np.float32)
        self._hop = self._length / GRAIN_OVERLAP
        self._rng = rng
        self._pending = np.zeros(self._length, np.float32)  # grains that spill past the last read
        self._next = -rng.uniform(0, self._hop)  # next grain start, relative to the read position
        # Hann grains at 50 % overlap of unit-RMS noise: RMS ~ sqrt(overlap * mean(w^2)).
        self._norm = 1.0 / np.sqrt(GRAIN_OVERLAP * float(np.mean(np.square(self._window))))

    def _grain(self) -> np.ndarray:
        k = int(self._rng.choice(self._sizes.size, p=self._sizes / self._sizes.sum()))
        offset = int(self._rng.integers(0, int(self._sizes[k]) - self._length + 1))
        return self._source[self._starts[k] + offset : self._starts[k] + offset + self._length] * self._window

    def read(self, n: int) -> np.ndarray:
        out = np.zeros(n + self._length, np.float32)
        m = min(self._pending.size, out.size)
        out[:m] += self._pending[:m]
        while self._next < n:
            grain = self._grain()
            start = int(np.floor(self._next))
            if start < 0:
                out[: start + grain.size] += grain[-start:]
            else:
                out[start : start + grain.size] += grain
            self._next += self._hop * (1.0 + self._rng.uniform(-GRAIN_HOP_JITTER, GRAIN_HOP_JITTER))
        self._next -= n
        self._pending = out[n:].copy()
        return out[:n] * np.float32(self._norm)


class NoiseBedStream:
    """Procedural room tone: white noise through a linear-phase FIR of a spectral profile (unit RMS).

    Parameters
    ----------
    sample_rate : int
    rng : np.random.Generator
    profile : sequence of (Hz, dB)
        Power spectral density breakpoints (dB relative to each other),
        interpolated linearly in between, held flat below the first and above the last.
    """

    def __init__(self, sample_rate: int, rng: np.random.Generator, profile):
        freqs = np.linspace(0.0, sample_rate / 2, 1 + 2 ** int(np.ceil(np.log2(ROOM_TONE_FIR_TAPS))))  # firwin2's grid
        gains = np.interp(freqs, [p[0] for p in profile], [10 ** (p[1] / 20) for p in profile])  # flat past the ends
        taps = scipy.signal.firwin2(ROOM_TONE_FIR_TAPS, freqs / (sample_rate / 2), gains)
        self._rng = rng
        self._fir = StreamingConvolver(taps[None, :].astype(np.float32))
        self._fir.process(rng.standard_normal((1, taps.size)).astype(np.float32))  # fill the filter: no fade-in
        self._norm = 1.0 / (float(np.sqrt(np.sum(np.square(taps)))) + EPS)  # white noise through h: RMS = |h|

    def read(self, n: int) -> np.ndarray:
        white = self._rng.standard_normal((1, n)).astype(np.float32)
        return (self._fir.process(white)[0] * np.float32(self._norm)).astype(np.float32)


class LevelDrift:
    """A slowly drifting gain: random levels (normal, in dB) reached one after another, cosine-interpolated.

    Parameters
    ----------
    sample_rate : int
    rng : np.random.Generator
    drift_db : float
        Standard deviation of the levels, dB (>= 0; 0 gives a constant gain of 1).
    drift_hz : float
        How often a new level is reached (> 0).

    ``read(n)`` returns the next ``n`` gains; their mean power is 1, so a bed keeps the level it was set to.
    """

    def __init__(self, sample_rate: int, rng: np.random.Generator, drift_db: float = ROOM_TONE_DRIFT_DB,
                 drift_hz: float = ROOM_TONE_DRIFT_HZ):
        if not (drift_db >= 0 and drift_hz > 0):
            raise ValueError(f"a level drift needs >= 0 dB at > 0 Hz, got {drift_db} dB at {drift_hz} Hz")
        self._rng = rng
        self._db = float(drift_db)
        self._samples_per_level = sample_rate / drift_hz
        self._levels = rng.standard_normal(2)
        self._first = 0  # index of self._levels[0]
        self._read = 0
        # E[10 ** (sigma * g / 10)] for g ~ N(0, 1) is the drift's mean power: divided out
        self._norm = float(np.exp((self._db * np.log(10) / 10) ** 2 / 4))

    def read(self, n: int) -> np.ndarray:
        if n <= 0 or not self._db:
            return np.ones(max(n, 0), np.float32)
        t = (self._read + np.arange(n)) / self._samples_per_level
        self._read += n
        i = t.astype(np.int64)
        keep = int(i[0]) - self._first  # levels before this block are never read again
        self._levels, self._first = self._levels[keep:], int(i[0])
        need = int(i[-1]) + 2 - self._first
        if need > self._levels.size:
            self._levels = np.concatenate([self._levels, self._rng.standard_normal(need - self._levels.size)])
        w = 0.5 - 0.5 * np.cos(np.pi * (t - i))
        a, b = self._levels[i - self._first], self._levels[i + 1 - self._first]
        return (10 ** (self._db * (a + (b - a) * w) / 20) / self._norm).astype(np.float32)


def room_impulse_response(sample_rate: int, rng: np.random.Generator, n_channels: int = 2) -> np.ndarray:
    """A small room's impulse responses, ``[n_channels, n]``, unit energy each (decorrelated channels)."""
    n = int(ROOM_IR_S * sample_rate)
    t = np.arange(n) / sample_rate
    decay = np.exp(-6.91 * t / ROOM_RT60_S)  # -60 dB at RT60
    decay[: int(ROOM_PREDELAY_S * sample_rate)] = 0.0
    sos = scipy.signal.butter(1, ROOM_DAMPING_HZ, fs=sample_rate, output="sos")
    irs = np.stack([scipy.signal.sosfilt(sos, rng.standard_normal(n) * decay) for _ in range(n_channels)])
    return (irs / np.sqrt(np.sum(np.square(irs), axis=1, keepdims=True) + EPS)).astype(np.float32)


class StreamingConvolver:
    """Block-by-block convolution of ``[channels, n]`` audio with per-channel IRs (tail carried over)."""

    def __init__(self, irs: np.ndarray):
        self._irs = irs
        self._tail = np.zeros((irs.shape[0], irs.shape[1] - 1), np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[1]
        wet = np.stack([scipy.signal.oaconvolve(block[c], self._irs[c]) for c in range(block.shape[0])])
        wet[:, : self._tail.shape[1]] += self._tail  # wet is n + len(ir) - 1 >= the tail long
        self._tail = wet[:, n:].astype(np.float32)
        return wet[:, :n].astype(np.float32)


def soft_clip(x: np.ndarray) -> np.ndarray:
    """Identity below :data:`SOFT_CLIP_KNEE`, a tanh knee above it, never past :data:`SOFT_CLIP_CEILING`."""
    room = SOFT_CLIP_CEILING - SOFT_CLIP_KNEE
    mag = np.abs(x)
    over = mag > SOFT_CLIP_KNEE
    if not np.any(over):
        return x
    out = x.copy()
    out[over] = np.sign(x[over]) * (SOFT_CLIP_KNEE + room * np.tanh((mag[over] - SOFT_CLIP_KNEE) / room))
    return out
