"""The preview engine: weight-free, CPU, fast envelope-to-audio synthesis.

Renders 44.1 kHz stereo audio whose RMS envelope follows a target RMS
envelope (the output of the envelope stage, or one a user drew or extracted
from any audio). It stands in for the neural synthesis engines, behind the
same call: envelope in, audio out.

How it works
------------
1. **Carrier.** The envelope is segmented into events
   (:func:`folai_models.events.envelope_events`). Each event gets one impact
   grain at its attack, scaled to the envelope's local peak and panned a
   little. Sustained sections (events longer than :data:`SUSTAIN_MIN_S`, or
   plateaus where the envelope stays within :data:`PLATEAU_RATIO` for that
   long) get the sustained texture at full level; every other non-silent
   frame gets a quiet texture "bed" (:data:`TEXTURE_BED_LEVEL`) so that tails
   and slow fades always have material to shape. Grains and textures come
   from a procedural material (:mod:`folai_models.materials`) or from a
   user's audio prompt (cut into grains at its own onsets; granulated for
   textures).
2. **Envelope-following gain.** The carrier's RMS is measured exactly like
   the envelope stage measures it (mono, 16 kHz, frame 512, frame ``i``
   centred at ``(i + 0.5) / frame_rate``). With the squared gain linear
   between frame centres, every frame's energy is linear in the per-frame
   squared gains, so the gain is a banded least-squares fit of the target
   (relative error, a small smoothness penalty, bounded by
   :data:`MAX_GAIN`, refined by non-negative multiplicative updates), then
   interpolated to the sample rate. Frames where the target is silent
   (< 0.01) get gain 0, so silence in gives silence out (only the 32 ms
   window's reach next to a loud frame leaks, as it would for a real sound).
3. **Peak limiter.** A look-ahead gain (sliding minimum, then moving average
   of the gain each sample needs) keeps every sample <= :data:`PEAK_LIMIT`
   without hard clipping: the gain never exceeds what a sample needs and
   changes smoothly over :data:`LIMITER_WINDOW_S`. It only acts where the
   target asks for more level than the headroom allows (loud, spiky
   sections); there the output's envelope is lower than the target.

Stereo is mid/side: the mono downmix (mean of the channels) is exactly the
carrier the gain was fitted on; the side signal is an independently seeded
texture (decorrelated), and each event gets a small random balance pan.

Pure numpy/scipy/soxr/librosa: no file I/O, no Prefect.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Callable

import numpy as np
import scipy.linalg
import scipy.ndimage
import scipy.sparse
import soxr

from folai_models import materials as _materials
from folai_models.events import SILENCE_RMS, envelope_events

__all__ = [
    "SAMPLE_RATE",
    "FRAME_RATE",
    "envelope_rms",
    "render_from_envelope",
]

SAMPLE_RATE = 44100  # Stable Audio Open output rate (spec stage 10)
FRAME_RATE = 125.0  # envelope frames per second: 16 kHz / hop 128 (spec stage 7)
N_CHANNELS = 2  # stereo output (spec stage 10)

# Measurement: the envelope stage's RMS (spec stage 7).
ANALYSIS_SAMPLE_RATE = 16000  # envelopes are RMS of 16 kHz mono audio
ANALYSIS_FRAME_LENGTH = 512  # samples at ANALYSIS_SAMPLE_RATE (32 ms window)
RESAMPLE_QUALITY = "HQ"  # soxr quality, as librosa's default res_type "soxr_hq"

# Carrier.
SUSTAIN_MIN_S = 0.15  # an event longer than this is a sustained section (full-level texture)
PLATEAU_RATIO = 2.0  # envelope max/min over SUSTAIN_MIN_S below this (6 dB) is a plateau
TEXTURE_BED_LEVEL = 0.2  # texture under all other non-silent frames, relative to the target
TEXTURE_FADE_S = 0.02  # smoothing of the texture level where sections start and end
TEXTURE_SPAN_PAD_S = 0.05  # textures are rendered this far around each non-silent span
TEXTURE_LEVELLING_S = 0.01  # textures are levelled to constant RMS over this window, so the
#   frame-rate gain only shapes the target instead of undoing the texture's own bursts
TEXTURE_LEVELLING_FLOOR = 0.01  # ... but gaps quieter than this (energy, relative) stay quiet
GRAIN_ATTACK_FRACTION = 0.5  # a grain starts where its event's rise crosses this peak fraction
GRAIN_ATTACK_DELAY_S = 0.010  # ... plus this: a 32 ms RMS window sees a hit ~half a window early
GRAIN_LOCAL_PEAK_S = 0.05  # a grain is scaled to the envelope's maximum this soon after it
GRAIN_TAIL_S = 0.1  # a grain may ring this long past its event's end (the gain gates it anyway)
GRAIN_LEVEL_WINDOW_S = ANALYSIS_FRAME_LENGTH / ANALYSIS_SAMPLE_RATE  # level: RMS of 1st window
INTENSITY_RANGE_DB = 40.0  # grain brightness: 0 at -40 dB (RMS 0.01), 1 at 0 dB (RMS 1)
PAN_SPREAD = 0.3  # per-event balance pan p in [-0.3, 0.3]: left gain 1 - p, right 1 + p
STEREO_WIDTH = 0.3  # side texture relative to mid (0: mono copy; 0.3: L/R correlation ~0.8)

# Envelope-following gain.
MAX_GAIN = 10.0  # upper bound of the per-frame gain (+20 dB over the carrier)
GAIN_FLOOR = 0.01  # lower bound of a non-silent frame's gain before refinement (-40 dB)
GAIN_SMOOTHNESS = 1e-2  # first-difference penalty on the squared gain (no zipper noise)
GAIN_RIDGE = 1e-9  # keeps the normal equations positive definite where there is no carrier
GAIN_REFINE_ITERATIONS = 20  # non-negative multiplicative refinements after the bounded solve

# Output limiter.
PEAK_LIMIT = 0.99  # no sample exceeds this magnitude
LIMITER_WINDOW_S = 0.002  # gain reduction is spread over +-1 ms around each peak (then eased)

# Audio prompt.
PROMPT_SILENCE_PEAK = 1e-4  # a prompt whose peak is below this is silent
PROMPT_MAX_CHANNELS = 8  # a 2-D prompt with more rows than this is (n, channels): refused
PROMPT_ONSET_MIN_SAMPLES = 2048  # shorter prompts skip onset detection (one STFT frame)
PROMPT_MAX_GRAIN_S = 1.0  # longest grain cut from a prompt
PROMPT_MIN_GRAIN_S = 0.02  # shorter onset segments are dropped
PROMPT_FIXED_GRAIN_S = 0.25  # fallback grain size when the prompt has no usable onsets
PROMPT_GRAIN_MIN_PEAK = 0.05  # grains quieter than this (relative to the prompt peak) are dropped
PROMPT_FADE_IN_S = 0.001  # fades on cut grains avoid clicks ...
PROMPT_FADE_OUT_S = 0.01  # ... at both ends
GRANULAR_GRAIN_S = 0.06  # granulation: grain length for sustained sections
GRANULAR_OVERLAP = 4.0  # mean number of overlapping grains (hop = length / overlap)
GRANULAR_HOP_JITTER = 0.25  # +-25 % random hop: no periodic comb
GRANULAR_SOURCE_MIN_RMS = 0.1  # grains are read only where the prompt is this loud (relative)

EPS = 1e-12  # guards divisions by zero


GrainSource = Callable[[np.random.Generator, float, float], np.ndarray]
TextureSource = Callable[[int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class _Voice:
    grain: GrainSource  # (rng, intensity, max_duration_s) -> 1-D grain
    texture: TextureSource  # (n_samples, rng) -> 1-D unit-RMS texture


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _is_real(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and bool(np.isfinite(x))


def _check_inputs(envelope, frame_rate, sample_rate, n_channels) -> np.ndarray:
    env = np.asarray(envelope)
    if env.ndim != 1:
        raise ValueError(f"envelope must be 1-D (n_frames,), got shape {env.shape}")
    if env.size == 0:
        raise ValueError("envelope is empty")
    if not np.issubdtype(env.dtype, np.number) or np.iscomplexobj(env):
        raise ValueError(f"envelope must be real numbers, got dtype {env.dtype}")
    env = env.astype(np.float64)
    if not np.all(np.isfinite(env)):
        raise ValueError("envelope contains NaN or infinite values")
    if np.any(env < 0):
        raise ValueError("envelope contains negative values; RMS must be >= 0")
    if not _is_real(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be a positive number, got {frame_rate!r}")
    if not _is_real(sample_rate) or int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if n_channels not in (1, 2):
        raise ValueError(f"n_channels must be 1 or 2, got {n_channels!r}")
    return env


def _check_prompt(audio_prompt, audio_prompt_sample_rate) -> np.ndarray:
    """Validated mono (channel mean) float64 copy of an audio prompt."""
    y = np.asarray(audio_prompt)
    if y.ndim not in (1, 2):
        raise ValueError(
            f"audio prompt must be 1-D (n,) or 2-D (channels, n), got shape {y.shape}"
        )
    if y.size == 0:
        raise ValueError("audio prompt is empty")
    if y.ndim == 2 and y.shape[0] > PROMPT_MAX_CHANNELS:
        raise ValueError(
            f"audio prompt must be (channels, n) with at most {PROMPT_MAX_CHANNELS} channels, "
            f"got shape {y.shape}; transpose an (n, channels) array"
        )
    if not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
        raise ValueError(f"audio prompt must be real numbers, got dtype {y.dtype}")
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        raise ValueError("audio prompt contains NaN or infinite values")
    if audio_prompt_sample_rate is None:
        raise ValueError("audio_prompt_sample_rate is required with audio_prompt")
    if not _is_real(audio_prompt_sample_rate) or audio_prompt_sample_rate <= 0:
        raise ValueError(
            f"audio_prompt_sample_rate must be positive, got {audio_prompt_sample_rate!r}"
        )
    if np.max(np.abs(y)) < PROMPT_SILENCE_PEAK:
        raise ValueError("audio prompt is silent")
    return y if y.ndim == 1 else y.mean(axis=0)


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------


def _frame_windows(n_signal: int, n_frames: int, frame_rate: float):
    """Window starts (in a padded signal) and the reflect padding, for frames centred at
    ``(i + 0.5) / frame_rate`` on a 16 kHz signal of ``n_signal`` samples."""
    length = ANALYSIS_FRAME_LENGTH
    centres = (np.arange(n_frames) + 0.5) * (ANALYSIS_SAMPLE_RATE / frame_rate)
    starts = np.round(centres - length / 2).astype(np.int64)
    pad_left = max(0, -int(starts.min()))
    pad_right = max(0, int(starts.max()) + length - n_signal)
    return centres, starts + pad_left, pad_left, pad_right


def _pad(y16: np.ndarray, pad_left: int, pad_right: int) -> np.ndarray:
    mode = "reflect" if y16.size > 1 else "edge"
    return np.pad(y16, (pad_left, pad_right), mode=mode)


def _frame_rms_16k(y16: np.ndarray, n_frames: int, frame_rate: float) -> np.ndarray:
    """RMS of 16 kHz audio on the envelope grid (frame i centred at (i + 0.5) / frame_rate).

    With frame_rate 125 this is exactly spec stage 7 (frame 512, hop 128,
    reflect padding 192, center=False); other frame rates use the same
    512-sample window around each frame centre.
    """
    _, starts, pad_left, pad_right = _frame_windows(y16.size, n_frames, frame_rate)
    padded = _pad(y16, pad_left, pad_right)
    energy = np.concatenate([[0.0], np.cumsum(np.square(padded, dtype=np.float64))])
    total = energy[starts + ANALYSIS_FRAME_LENGTH] - energy[starts]
    return np.sqrt(np.maximum(total, 0.0) / ANALYSIS_FRAME_LENGTH)


def _resample(y: np.ndarray, from_rate: float, to_rate: float) -> np.ndarray:
    if from_rate == to_rate:
        return np.asarray(y, dtype=np.float64)
    y32 = np.asarray(y, dtype=np.float32)
    return soxr.resample(y32, from_rate, to_rate, quality=RESAMPLE_QUALITY).astype(np.float64)


def envelope_rms(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    frame_rate: float = FRAME_RATE,
    n_frames: int | None = None,
) -> np.ndarray:
    """RMS envelope of audio as the envelope stage measures it.

    Mono downmix (mean of channels), resampled to 16 kHz (soxr HQ), RMS over
    512 samples around each frame centre ``(i + 0.5) / frame_rate``: at 125
    frames/s, :func:`folai_models.envelope.rms_envelope` of the 16 kHz audio.

    Parameters
    ----------
    audio : np.ndarray, shape (n,) or (channels, n)
    sample_rate : int
    frame_rate : float
    n_frames : int, optional
        Defaults to ``round(duration * frame_rate)``.

    Returns
    -------
    np.ndarray, shape (n_frames,), float64
    """
    audio = np.asarray(audio, dtype=np.float64)
    mono = audio if audio.ndim == 1 else audio.mean(axis=0)
    if n_frames is None:
        n_frames = int(round(mono.size / sample_rate * frame_rate))
    y16 = _resample(mono, int(sample_rate), ANALYSIS_SAMPLE_RATE)
    return _frame_rms_16k(y16, n_frames, float(frame_rate))


# ---------------------------------------------------------------------------
# Voices: procedural material or audio prompt
# ---------------------------------------------------------------------------


def _material_voice(name: str, sample_rate: int) -> _Voice:
    mat = _materials.get_material(name)

    def grain(rng, intensity, max_s):
        return mat.grain(sample_rate, rng, intensity=intensity, max_duration_s=max_s)

    return _Voice(grain=grain, texture=lambda n, rng: mat.texture(n, sample_rate, rng))


def _fade(x: np.ndarray, sample_rate: int, fade_in_s: float, fade_out_s: float) -> np.ndarray:
    x = x.copy()
    n_in = min(x.size, int(fade_in_s * sample_rate))
    n_out = min(x.size, max(1, int(fade_out_s * sample_rate)))
    if n_in > 1:
        x[:n_in] *= np.linspace(0.0, 1.0, n_in, endpoint=False)
    x[-n_out:] *= np.linspace(1.0, 0.0, n_out)
    return x


def _prompt_grains(y: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """Cut a (peak-normalized) prompt into grains at its onsets; fixed-size fallback."""
    import librosa  # onset detection only; imported lazily (slow first import)

    max_len = int(PROMPT_MAX_GRAIN_S * sample_rate)
    min_len = int(PROMPT_MIN_GRAIN_S * sample_rate)
    grains: list[np.ndarray] = []
    if y.size >= PROMPT_ONSET_MIN_SAMPLES:
        onsets = librosa.onset.onset_detect(
            y=y.astype(np.float32), sr=sample_rate, units="samples", backtrack=True
        )
        bounds = [*np.unique(np.asarray(onsets, dtype=np.int64)), y.size]
        for a, b in zip(bounds[:-1], bounds[1:]):
            seg = y[a : min(b, a + max_len)]
            if seg.size >= min_len and np.max(np.abs(seg)) >= PROMPT_GRAIN_MIN_PEAK:
                grains.append(seg)
    if not grains:
        step = max(1, int(PROMPT_FIXED_GRAIN_S * sample_rate))
        for a in range(0, y.size, step):
            seg = y[a : a + step]
            if np.max(np.abs(seg)) >= PROMPT_GRAIN_MIN_PEAK:
                grains.append(seg)
    if not grains:  # only sound below the grain threshold
        grains.append(y[:max_len])
    out = []
    for g in grains:
        g = _fade(g, sample_rate, PROMPT_FADE_IN_S, PROMPT_FADE_OUT_S)
        out.append((g / (np.max(np.abs(g)) + EPS)).astype(np.float32))
    return out


def _granulate(source, positions, n: int, sample_rate: int, rng) -> np.ndarray:
    """Overlap-add Hann-windowed grains read at random ``positions`` of ``source`` (unit RMS)."""
    length = max(2, min(int(GRANULAR_GRAIN_S * sample_rate), source.size))
    window = np.hanning(length)
    hop = length / GRANULAR_OVERLAP
    out = np.zeros(n + length)
    t = -rng.uniform(0, hop)
    while t < n:
        src = min(int(positions[rng.integers(positions.size)]), source.size - length)
        grain = window * source[src : src + length] * rng.choice([-1.0, 1.0])
        start = int(t)
        if start >= 0:
            out[start : start + length] += grain
        else:  # the first grain may start before the output does
            out[: start + length] += grain[-start:]
        t += hop * (1.0 + rng.uniform(-GRANULAR_HOP_JITTER, GRANULAR_HOP_JITTER))
    out = out[:n]
    rms = np.sqrt(np.mean(np.square(out))) if n else 0.0
    return (out / rms if rms > EPS else out).astype(np.float32)


def _prompt_voice(mono: np.ndarray, prompt_rate: float, sample_rate: int) -> _Voice:
    y = _resample(mono, float(prompt_rate), float(sample_rate))
    peak = np.max(np.abs(y)) if y.size else 0.0
    if peak < PROMPT_SILENCE_PEAK:  # resampling a lone click can leave ~nothing
        raise ValueError("audio prompt is silent")
    y = y / peak
    grains = _prompt_grains(y, sample_rate)
    # Granulation reads only where the prompt is audible.
    length = max(2, min(int(GRANULAR_GRAIN_S * sample_rate), y.size))
    starts = np.arange(0, max(1, y.size - length + 1), max(1, length // 2))
    energy = np.array([np.sqrt(np.mean(np.square(y[s : s + length]))) for s in starts])
    positions = starts[energy >= GRANULAR_SOURCE_MIN_RMS * energy.max()]

    def grain(rng: np.random.Generator, intensity: float, max_s: float) -> np.ndarray:
        g = grains[int(rng.integers(len(grains)))]  # played as recorded: intensity unused
        m = max(1, int(max_s * sample_rate))
        return g if g.size <= m else _fade(g[:m], sample_rate, 0.0, PROMPT_FADE_OUT_S)

    def texture(n: int, rng: np.random.Generator) -> np.ndarray:
        return _granulate(y, positions, n, sample_rate, rng)

    return _Voice(grain=grain, texture=texture)


# ---------------------------------------------------------------------------
# Carrier
# ---------------------------------------------------------------------------


def _sustain_weight(env: np.ndarray, frame_rate: float, events) -> np.ndarray:
    """Texture level per frame, relative to the target: 1 in sustained sections,
    the bed level elsewhere, 0 in silence."""
    active = env >= SILENCE_RMS
    sustained = np.zeros(env.size, dtype=bool)
    for ev in events:
        if ev.end_s - ev.start_s >= SUSTAIN_MIN_S:
            a, b = int(np.floor(ev.start_s * frame_rate)), int(np.ceil(ev.end_s * frame_rate))
            sustained[a:b] = True
    span = max(1, int(round(SUSTAIN_MIN_S * frame_rate)))
    if env.size >= span:
        floor = np.maximum(env, SILENCE_RMS)
        hi = scipy.ndimage.maximum_filter1d(floor, span, mode="nearest")
        lo = scipy.ndimage.minimum_filter1d(floor, span, mode="nearest")
        sustained |= hi <= PLATEAU_RATIO * lo
    weight = np.where(sustained & active, 1.0, np.where(active, TEXTURE_BED_LEVEL, 0.0))
    fade = max(1, int(round(TEXTURE_FADE_S * frame_rate)))
    if fade > 1:
        weight = scipy.ndimage.uniform_filter1d(weight, fade, mode="nearest")
    return np.where(active, weight, 0.0)


def _frames_to_samples(values, frame_rate: float, sample_rate: int, n_samples: int, start: int = 0):
    """Per-frame values (at frame centres) linearly interpolated to samples
    ``[start, start + n_samples)``; held constant beyond the first and last centre."""
    t = np.arange(start, start + n_samples, dtype=np.float64) * (frame_rate / sample_rate) - 0.5
    return np.interp(t, np.arange(values.size, dtype=np.float64), values)


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _grain_time(env: np.ndarray, frame_rate: float, ev) -> float:
    """Contact instant of an event (s): where its rise crosses GRAIN_ATTACK_FRACTION of its
    peak (interpolated between frames), plus GRAIN_ATTACK_DELAY_S."""
    a = int(round(ev.start_s * frame_rate - 0.5))
    p = int(round(ev.peak_s * frame_rate - 0.5))
    level = GRAIN_ATTACK_FRACTION * ev.peak_rms
    t = ev.start_s
    above = np.flatnonzero(env[a : p + 1] >= level)
    if above.size:
        k = a + int(above[0])
        frac = 0.0
        if k > a:
            lo, hi = env[k - 1], env[k]
            frac = (level - lo) / (hi - lo) - 1.0 if hi > lo else 0.0
        t = (k + frac + 0.5) / frame_rate
    return max(ev.start_s - 0.5 / frame_rate, t + GRAIN_ATTACK_DELAY_S)


def _level(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Divide ``x`` by its moving RMS over TEXTURE_LEVELLING_S (shorter structure is kept),
    then soft-cap its crest factor at ``materials.TEXTURE_MAX_CREST``."""
    width = max(1, int(TEXTURE_LEVELLING_S * sample_rate))
    if x.size <= width:
        return x
    energy = scipy.ndimage.uniform_filter1d(np.square(x, dtype=np.float64), width, mode="reflect")
    floor = TEXTURE_LEVELLING_FLOOR * float(np.mean(energy))
    x = x / np.sqrt(np.maximum(energy, floor) + EPS)
    crest = _materials.TEXTURE_MAX_CREST
    return crest * np.tanh(x / crest)


def _carrier(env, frame_rate, sample_rate, n_samples, voice, rng, n_channels):
    """Mid (mono) and side (or None) carriers before the gain, shape (n_samples,)."""
    mid = np.zeros(n_samples, dtype=np.float32)  # float32: half the memory of float64
    side = np.zeros(n_samples, dtype=np.float32) if n_channels == 2 else None
    events = envelope_events(env, frame_rate)
    texture_rng, side_rng, grain_rng, pan_rng = rng.spawn(4)

    # Textures over each non-silent span (padded), level = weight * target RMS.
    level = env * _sustain_weight(env, frame_rate, events)
    pad = int(round(TEXTURE_SPAN_PAD_S * frame_rate))
    for a, b in _spans(level > 0):
        a, b = max(0, a - pad), min(env.size, b + pad)
        s0 = int(np.floor(a / frame_rate * sample_rate))
        s1 = min(n_samples, int(np.ceil(b / frame_rate * sample_rate)))
        if s1 <= s0:
            continue
        amp = _frames_to_samples(level, frame_rate, sample_rate, s1 - s0, s0)
        mid[s0:s1] += amp * _level(voice.texture(s1 - s0, texture_rng), sample_rate)
        if side is not None:
            side_texture = _level(voice.texture(s1 - s0, side_rng), sample_rate)
            side[s0:s1] += STEREO_WIDTH * amp * side_texture

    # One grain per event, level = the envelope's maximum just after the contact instant.
    level_len = max(1, int(round(GRAIN_LEVEL_WINDOW_S * sample_rate)))
    duration = env.size / frame_rate
    for ev in events:
        t0 = _grain_time(env, frame_rate, ev)
        s = int(round(t0 * sample_rate))
        f0 = max(0, int(np.floor(t0 * frame_rate - 0.5)))
        f1 = min(env.size, int(np.ceil((t0 + GRAIN_LOCAL_PEAK_S) * frame_rate)) + 1)
        peak = float(env[f0:f1].max()) if f1 > f0 else ev.peak_rms
        if peak < SILENCE_RMS or s >= n_samples:
            continue
        intensity = float(np.clip(1.0 + 20.0 * np.log10(peak) / INTENSITY_RANGE_DB, 0.0, 1.0))
        end = max(ev.end_s, min(duration, ev.start_s + GRAIN_LOCAL_PEAK_S))
        max_s = max(end - t0 + GRAIN_TAIL_S, 1.0 / sample_rate)
        g = np.asarray(voice.grain(grain_rng, intensity, max_s), dtype=np.float64)
        g_rms = np.sqrt(np.mean(np.square(g[:level_len])))
        if g_rms <= EPS:
            continue
        m = min(g.size, n_samples - s)
        g = (peak / g_rms) * g[:m]
        mid[s : s + m] += g
        if side is not None:  # balance pan p: left = mid + side = (1 - p) g, right = (1 + p) g
            side[s : s + m] -= pan_rng.uniform(-PAN_SPREAD, PAN_SPREAD) * g
    return mid, side


# ---------------------------------------------------------------------------
# Gain and limiter
# ---------------------------------------------------------------------------


def _energy_matrix(y16: np.ndarray, n_frames: int, frame_rate: float) -> scipy.sparse.csr_matrix:
    """Banded matrix ``A`` with ``A @ h`` = frame mean-square energies of ``g * y16``.

    ``g**2`` is linear between frame centres with value ``h[j]`` at centre
    ``j`` (held constant beyond the first and last centre), so each frame's
    energy is exactly linear in ``h``: row ``i`` integrates the squared
    signal over frame ``i``'s window against the hat function of each ``j``,
    using cumulative sums of ``x**2`` and ``n * x**2`` (O(n_frames) work).
    Windows and padding are those of :func:`_frame_rms_16k`; inside the
    reflect padding the hats are held constant (exact except at the first
    and last two frames).
    """
    length = ANALYSIS_FRAME_LENGTH
    hop = ANALYSIS_SAMPLE_RATE / frame_rate
    centres, w0, pad_left, pad_right = _frame_windows(y16.size, n_frames, frame_rate)
    x2 = np.square(_pad(y16, pad_left, pad_right), dtype=np.float64)
    s0 = np.concatenate([[0.0], np.cumsum(x2)])
    s1 = np.concatenate([[0.0], np.cumsum(np.arange(x2.size) * x2)])
    c = centres + pad_left
    first = np.arange(n_frames) == 0
    last = np.arange(n_frames) == n_frames - 1
    # Integer sample ranges of each hat's rising [c[j-1], c[j]) and falling [c[j], c[j+1])
    # halves; the value is intercept + slope * n on each, and the outermost halves are flat (1).
    edge = np.ceil(c).astype(np.int64)
    halves = (
        (np.concatenate([[0], edge[:-1]]), edge,
         np.where(first, 0.0, 1.0 / hop), np.where(first, 1.0, -(c - hop) / hop)),
        (edge, np.concatenate([edge[1:], [x2.size]]),
         np.where(last, 0.0, -1.0 / hop), np.where(last, 1.0, (c + hop) / hop)),
    )
    band = int(np.ceil((length / 2 + 1) / hop)) + 1  # farthest hat a window can touch
    rows, cols, vals = [], [], []
    for d in range(-band, band + 1):
        i = np.arange(max(0, -d), min(n_frames, n_frames - d))
        if i.size == 0:
            continue
        j = i + d
        total = np.zeros(i.size)
        for lo, hi, slope, intercept in halves:
            a = np.maximum(w0[i], lo[j])
            b = np.maximum(a, np.minimum(w0[i] + length, hi[j]))
            total += intercept[j] * (s0[b] - s0[a]) + slope[j] * (s1[b] - s1[a])
        rows.append(i)
        cols.append(j)
        vals.append(np.maximum(total, 0.0) / length)
    data = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
    return scipy.sparse.csr_matrix(data, shape=(n_frames, n_frames))


def _solve_banded_spd(matrix: scipy.sparse.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Solve a symmetric positive-definite banded sparse system (O(n * bandwidth**2))."""
    n = matrix.shape[0]
    rows = np.repeat(np.arange(n), np.diff(matrix.indptr))
    width = int(np.abs(matrix.indices - rows).max(initial=0))
    banded = np.zeros((width + 1, n))
    for u in range(width + 1):
        banded[width - u, u:] = matrix.diagonal(u)
    return scipy.linalg.solveh_banded(banded, rhs, check_finite=False)


def _follow_gain(mid: np.ndarray, env: np.ndarray, frame_rate: float, sample_rate: int):
    """Squared gain per frame centre, ``h``, such that the RMS envelope of
    ``sqrt(h) * mid`` (``h`` linear between centres) follows ``env``.

    Frame energies are linear in ``h`` (:func:`_energy_matrix`), so ``h`` is
    a regularized least-squares fit of the target energies, each non-silent
    frame weighted by 1 / target energy (relative error), with a
    first-difference penalty (:data:`GAIN_SMOOTHNESS`) between neighbouring
    non-silent frames; then bounded to ``[GAIN_FLOOR**2, MAX_GAIN**2]`` and
    refined by :data:`GAIN_REFINE_ITERATIONS` non-negative multiplicative
    updates (Lee & Seung). Silent target frames get ``h = 0`` and are not
    fitted: the leak from a loud neighbour through the 32 ms window is what
    a real sound would give.
    """
    n = env.size
    silent = env < SILENCE_RMS
    a = _energy_matrix(_resample(mid, sample_rate, ANALYSIS_SAMPLE_RATE), n, frame_rate)
    a = a @ scipy.sparse.diags((~silent).astype(np.float64))  # silent gains are fixed at 0
    weight = np.where(silent, 0.0, 1.0 / np.maximum(env, SILENCE_RMS) ** 2)
    aw = (scipy.sparse.diags(weight) @ a).tocsr()
    bw = weight * np.square(env)
    both = (~silent[:-1] & ~silent[1:]).astype(np.float64)
    diff = scipy.sparse.diags([-both, both], [0, 1], shape=(max(n - 1, 0), n))
    normal = aw.T @ aw + GAIN_SMOOTHNESS * (diff.T @ diff) + GAIN_RIDGE * scipy.sparse.eye(n)
    numerator = aw.T @ bw
    h = np.clip(_solve_banded_spd(normal.tocsr(), numerator), GAIN_FLOOR**2, MAX_GAIN**2)
    h[silent] = 0.0
    for _ in range(GAIN_REFINE_ITERATIONS):
        h *= numerator / np.maximum(aw.T @ (aw @ h), 1e-30)
        np.minimum(h, MAX_GAIN**2, out=h)
    return h


def _limit(y: np.ndarray, sample_rate: int) -> bool:
    """Smooth peak limiter, in place: every |sample| <= PEAK_LIMIT; True if it acted.

    The needed gain ``min(1, PEAK_LIMIT / |x|)`` (over channels) is passed
    through a sliding minimum and then a moving average of the same centred
    window (:data:`LIMITER_WINDOW_S`), so the applied gain is smooth and never
    above the needed gain. Only the neighbourhoods of overs are processed.
    """
    magnitude = np.max(np.abs(y), axis=0)
    overs = np.flatnonzero(magnitude > PEAK_LIMIT)
    if overs.size == 0:
        return False
    width = max(1, int(LIMITER_WINDOW_S * sample_rate)) | 1
    # Overs closer than 2 windows are processed together, with a 2-window margin.
    breaks = np.flatnonzero(np.diff(overs) > 2 * width)
    firsts = overs[np.concatenate([[0], breaks + 1])]
    lasts = overs[np.concatenate([breaks, [overs.size - 1]])]
    for first, last in zip(firsts, lasts):
        a = max(0, int(first) - 2 * width)
        b = min(y.shape[1], int(last) + 2 * width + 1)
        need = np.minimum(1.0, PEAK_LIMIT / np.maximum(magnitude[a:b], EPS))
        g = scipy.ndimage.minimum_filter1d(need, width, mode="nearest")
        g = scipy.ndimage.uniform_filter1d(g, width, mode="nearest")
        y[:, a:b] *= np.minimum(g, need).astype(y.dtype)  # min(): float rounding of the mean
    return True


def _render(mid, side, h, frame_rate: float, sample_rate: int, out: np.ndarray) -> bool:
    """``out`` = limited ``sqrt(h) * (mid +- side)``; True if the limiter acted."""
    gain = np.sqrt(_frames_to_samples(h, frame_rate, sample_rate, mid.size))
    if side is None:
        np.multiply(gain, mid, out=out[0], casting="same_kind")
    else:
        np.multiply(gain, mid + side, out=out[0], casting="same_kind")
        np.multiply(gain, mid - side, out=out[1], casting="same_kind")
    return _limit(out, sample_rate)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def render_from_envelope(
    envelope,
    frame_rate: float = FRAME_RATE,
    *,
    sample_rate: int = SAMPLE_RATE,
    material: str | None = None,
    prompt: str | None = None,
    audio_prompt=None,
    audio_prompt_sample_rate: float | None = None,
    seed: int = 0,
    n_channels: int = N_CHANNELS,
) -> np.ndarray:
    """Render audio whose RMS envelope follows ``envelope`` (the preview engine).

    Parameters
    ----------
    envelope : array_like, shape (n_frames,)
        Target RMS envelope, values >= 0 (normally in [0, 1]; < 0.01 is
        silence), frame ``i`` centred at ``(i + 0.5) / frame_rate`` seconds.
    frame_rate : float
        Envelope frames per second (125 = 16 kHz / hop 128).
    sample_rate : int
        Output sample rate.
    material : str, optional
        Material name or synonym (see :data:`folai_models.materials.MATERIALS`);
        unknown names raise ValueError. Takes precedence over ``prompt``.
    prompt : str, optional
        Text prompt; its first material word picks the material
        (:func:`folai_models.materials.material_from_prompt`, default wood).
    audio_prompt : array_like, shape (n,) or (channels, n), optional
        A user's sample; when given, grains (cut at its onsets, one per
        event, played as recorded) and textures (granulated) come from it,
        downmixed to mono, instead of a procedural material; ``material``
        and ``prompt`` are then only validated.
    audio_prompt_sample_rate : float, optional
        Sample rate of ``audio_prompt``; required with it.
    seed : int
        Seed of all randomness; same inputs and seed give identical output.
    n_channels : int
        2 (stereo, decorrelated) or 1.

    Returns
    -------
    np.ndarray, shape (n_channels, n_samples), float32
        ``n_samples = round(n_frames / frame_rate * sample_rate)``, all
        ``|samples| <= 0.99``. Its mono downmix's RMS envelope
        (:func:`envelope_rms`) follows ``envelope``, except where the target
        exceeds the limiter's headroom.

    Raises
    ------
    ValueError
        Bad envelope, frame rate, sample rate, channel count, unknown
        material, or an empty / non-finite / silent audio prompt.
    """
    env = _check_inputs(envelope, frame_rate, sample_rate, n_channels)
    frame_rate = float(frame_rate)
    sample_rate = int(sample_rate)
    if material is not None:
        name = _materials.resolve_material(material)
    else:
        name = _materials.material_from_prompt(prompt)
    if audio_prompt is not None:
        mono = _check_prompt(audio_prompt, audio_prompt_sample_rate)
        voice = _prompt_voice(mono, float(audio_prompt_sample_rate), sample_rate)
    else:
        voice = _material_voice(name, sample_rate)

    n_samples = int(round(env.size / frame_rate * sample_rate))
    out = np.zeros((n_channels, n_samples), dtype=np.float32)
    if n_samples == 0 or not np.any(env >= SILENCE_RMS):
        return out

    mid, side = _carrier(env, frame_rate, sample_rate, n_samples, voice,
                         np.random.default_rng(seed), n_channels)
    h = _follow_gain(mid, env, frame_rate, sample_rate)
    _render(mid, side, h, frame_rate, sample_rate, out)
    np.clip(out, -PEAK_LIMIT, PEAK_LIMIT, out=out)
    return out
