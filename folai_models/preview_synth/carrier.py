"""The carrier: grains at the envelope's events and textures under its non-silent spans.

Each event gets one grain at its contact instant, scaled to the envelope's
local peak and panned a little; sustained sections get the texture at full
level and every other non-silent frame a quiet texture bed. The result is
the mid (mono) signal the gain is fitted on, and a decorrelated side signal.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from folai_models import materials as _materials
from folai_models.events import SILENCE_RMS, envelope_events
from folai_models.preview_synth.measure import (
    ANALYSIS_FRAME_LENGTH,
    EPS,
    frames_to_samples,
)
from folai_models.rates import ENVELOPE_SAMPLE_RATE

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
GRAIN_LEVEL_WINDOW_S = ANALYSIS_FRAME_LENGTH / ENVELOPE_SAMPLE_RATE  # level: RMS of 1st window
INTENSITY_RANGE_DB = 40.0  # grain brightness: 0 at -40 dB (RMS 0.01), 1 at 0 dB (RMS 1)
PAN_SPREAD = 0.3  # per-event balance pan p in [-0.3, 0.3]: left gain 1 - p, right 1 + p
STEREO_WIDTH = 0.3  # side texture relative to mid (0: mono copy; 0.3: L/R correlation ~0.8)


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



def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def contact_time(env: np.ndarray, frame_rate: float, ev) -> float:
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


def carrier(env, frame_rate, sample_rate, n_samples, voice, rng, n_channels):
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
        amp = frames_to_samples(level, frame_rate, sample_rate, s1 - s0, s0)
        mid[s0:s1] += amp * _level(voice.texture(s1 - s0, texture_rng), sample_rate)
        if side is not None:
            side_texture = _level(voice.texture(s1 - s0, side_rng), sample_rate)
            side[s0:s1] += STEREO_WIDTH * amp * side_texture

    # One grain per event, level = the envelope's maximum just after the contact instant.
    level_len = max(1, int(round(GRAIN_LEVEL_WINDOW_S * sample_rate)))
    duration = env.size / frame_rate
    for ev in events:
        t0 = contact_time(env, frame_rate, ev)
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
