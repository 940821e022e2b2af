"""The Foley renderer: the envelope places events and sets their level; sounds keep their tails.

1. **Plan.** The envelope's events (:func:`folai_models.events.envelope_events`)
   become notes at their contact instants, each with the envelope's local
   peak as its target level and its intensity rank among the clip's events.
   Long events and plateaus are sustained spans.
2. **Events.** Each note gets a one-shot from the source, scaled so its
   loudest 32 ms window sits at the target level (with a little random gain;
   a sampled one-shot stays within a few dB of its recorded level, see
   :data:`~folai_models.foley.sources.LEVEL_FOLLOW_DB`), panned slightly, and
   left to ring out: tails cross block borders.
3. **Sustained spans** get the source's texture at the level the one-shots
   leave missing (``sqrt(target**2 - one_shots**2)``, frame by frame).
4. **Room tone** runs under everything, never digital silence: at the
   source's own signal-to-floor ratio below the median event, or at a level
   the user sets. An optional small room adds reverberation.

Rendering streams block by block (memory flat with length); every stream
keeps its state, so blocks join without seams.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.ndimage

from folai_models.events import SILENCE_RMS, envelope_events
from folai_models.foley.bank import LOUD_PERCENTILE
from folai_models.foley.levels import WINDOW_S, db_to_gain, frame_levels
from folai_models.foley.sources import FoleySource
from folai_models.foley.streams import LevelDrift, StreamingConvolver, room_impulse_response, soft_clip
from folai_models.preview_synth.carrier import GRAIN_LOCAL_PEAK_S, PLATEAU_RATIO, SUSTAIN_MIN_S, contact_time
from folai_models.rates import ENVELOPE_FRAME_RATE

BLOCK_S = 5.0  # rendering block; memory ~ (block + longest tail) x channels
GAIN_SPREAD_DB = 1.0  # per-event random gain (normal, dB): no two hits alike
PAN_SPREAD = 0.15  # per-event pan in [-0.15, 0.15] (constant power): a centred source that moves a little
ROOM_TONE_CORRELATION = 0.5  # room tone L/R correlation: a room around the listener, not two noises
ROOM_TONE_DEFAULT_DB = -60.0  # bed level (dBFS RMS) when a clip has no events to set it by
ROOM_TONE_RANGE_DB = (-78.0, -40.0)  # the natural bed is kept within this range (dBFS RMS)
TEXTURE_SMOOTH_S = 0.03  # the texture's level is smoothed over this (no zipper noise)
EVENT_PEAK_CEILING = 0.89  # an event's one-shot peaks at most here (-1 dBFS): under the soft clipper's knee
CHOKE_S = 0.03  # a new event damps the tails still ringing (by the source's choke_db) over this long
LEVEL_CONTEXT = 4096  # samples of the previous block kept for level windows and filter settling
SUSTAINED_ONE_SHOT = 0.6  # a sustained event's onset one-shot is this fraction of its level


@dataclass(frozen=True)
class Note:
    """One event to sound: contact sample, target level (envelope RMS), intensity rank and value."""

    sample: int
    level: float
    quantile: float
    intensity: float


def plan(envelope: np.ndarray, frame_rate: float, sample_rate: int) -> tuple[list[Note], np.ndarray]:
    """Notes (by time) and the per-frame sustained-span mask of an envelope."""
    env = np.asarray(envelope, np.float64)
    events = envelope_events(env, frame_rate)
    sustained = np.zeros(env.size, bool)
    notes = []
    for ev in events:
        long = ev.end_s - ev.start_s >= SUSTAIN_MIN_S
        if long:
            sustained[int(np.floor(ev.start_s * frame_rate)) : int(np.ceil(ev.end_s * frame_rate))] = True
        t0 = contact_time(env, frame_rate, ev)
        f0 = max(0, int(np.floor(t0 * frame_rate - 0.5)))
        f1 = min(env.size, int(np.ceil((t0 + GRAIN_LOCAL_PEAK_S) * frame_rate)) + 1)
        peak = float(env[f0:f1].max()) if f1 > f0 else ev.peak_rms
        if peak < SILENCE_RMS:
            continue
        notes.append((int(round(t0 * sample_rate)), peak * (SUSTAINED_ONE_SHOT if long else 1.0), peak))
    span = max(1, int(round(SUSTAIN_MIN_S * frame_rate)))
    if env.size >= span:  # plateaus: the envelope stays within 6 dB for SUSTAIN_MIN_S
        floor = np.maximum(env, SILENCE_RMS)
        hi = scipy.ndimage.maximum_filter1d(floor, span, mode="nearest")
        lo = scipy.ndimage.minimum_filter1d(floor, span, mode="nearest")
        sustained |= hi <= PLATEAU_RATIO * lo
    sustained &= env >= SILENCE_RMS
    peaks = np.array([p for _, _, p in notes])
    ranks = (np.argsort(np.argsort(peaks)) / max(peaks.size - 1, 1)) if peaks.size > 1 else np.full(peaks.size, 0.5)
    intensity = np.clip(1.0 + 20 * np.log10(np.maximum(peaks, 1e-6)) / 40.0, 0.0, 1.0)  # 0 at -40 dB, 1 at 0 dB
    return [Note(s, lv, float(q), float(i)) for (s, lv, _), q, i in zip(notes, ranks, intensity)], sustained


def _loud(notes: list[Note]) -> float:
    return float(np.percentile([n.level for n in notes], LOUD_PERCENTILE))


def loud_event_level(y: np.ndarray, sample_rate: int) -> float:
    """The loud events' level of a recording, as :func:`render_foley` measures an envelope's (0 if none).

    The recording's envelope is taken on the envelope's scale
    (:func:`~folai_models.foley.levels.frame_levels`) and planned like a
    target envelope, so a bed set relative to it lands where it was.
    """
    env = frame_levels(y, sample_rate, ENVELOPE_FRAME_RATE, int(y.size / sample_rate * ENVELOPE_FRAME_RATE))
    notes, _ = plan(env, ENVELOPE_FRAME_RATE, sample_rate)
    return _loud(notes) if notes else 0.0


def _pan_gains(p: float) -> tuple[float, float]:
    angle = (p + 1.0) * np.pi / 4  # constant power: centre = (0.707, 0.707)
    return float(np.cos(angle) * np.sqrt(2)), float(np.sin(angle) * np.sqrt(2))


def render_foley(envelope, frame_rate: float, sample_rate: int, n_samples: int, source: FoleySource, *,
                 seed: int = 0, room_tone_db: float | None = None, reverb: float | None = None,
                 n_channels: int = 2, block_s: float = BLOCK_S) -> tuple[Iterator[np.ndarray], dict]:
    """Stream ``[n_channels, n]`` float32 blocks adding up to ``n_samples``, and what was decided.

    Parameters
    ----------
    envelope : np.ndarray, shape (n_frames,)
        Target RMS envelope (frame ``i`` centred at ``(i + 0.5) / frame_rate``).
    frame_rate : float
    sample_rate : int
    n_samples : int
        Output length.
    source : FoleySource
        Sampler bank or procedural material.
    seed : int
        Seed of all randomness (identical inputs and seed give identical audio).
    room_tone_db : float, optional
        Room tone level in dBFS RMS; ``None``: the source's natural level
        relative to the clip's loud events (within :data:`ROOM_TONE_RANGE_DB`);
        ``-inf`` turns it off.
    reverb : float, optional
        Small-room wet level in [0, 1]; ``None``: the source's default.
    n_channels : int
        1 or 2.

    Returns
    -------
    (iterator of np.ndarray, dict)
        The blocks, and details for the run record (notes, room tone level, reverb).
    """
    if n_channels not in (1, 2):
        raise ValueError(f"n_channels must be 1 or 2, got {n_channels!r}")
    env = np.asarray(envelope, np.float64)
    notes, sustained = plan(env, frame_rate, sample_rate)
    if room_tone_db is None:
        if notes:
            loud = _loud(notes)
            room_tone_db = float(np.clip(20 * np.log10(loud) + source.natural_room_tone_db, *ROOM_TONE_RANGE_DB))
        else:
            room_tone_db = ROOM_TONE_DEFAULT_DB
    reverb = source.default_reverb if reverb is None else float(reverb)
    if not 0.0 <= reverb <= 1.0:
        raise ValueError(f"reverb must be in [0, 1], got {reverb!r}")
    details = {"source": source.description, "events": len(notes), "room_tone_dbfs": round(room_tone_db, 1),
               "reverb": reverb, "sustained_s": round(float(sustained.sum()) / frame_rate, 2),
               "limited_events": 0}  # counted while the blocks are made
    return _blocks(env, frame_rate, sample_rate, n_samples, source, notes, sustained, seed,
                   db_to_gain(room_tone_db) if np.isfinite(room_tone_db) else 0.0, reverb, n_channels,
                   block_s, details), details


def _blocks(env, frame_rate, sample_rate, n_samples, source, notes, sustained, seed, bed_gain, reverb,
            n_channels, block_s, details: dict) -> Iterator[np.ndarray]:
    rng_events, rng_texture, rng_bed, rng_room, rng_drift = np.random.default_rng(seed).spawn(5)
    texture = source.texture_stream(rng_texture) if sustained.any() else None
    beds = [source.room_tone_stream(r) for r in rng_bed.spawn(2 if n_channels == 2 else 1)] if bed_gain else []
    # one drift for both channels (one room); none for a recorded bed, which moves as it was recorded
    drift = (LevelDrift(sample_rate, rng_drift, source.room_tone_drift_db)
             if beds and source.room_tone_drift_db else None)
    room = StreamingConvolver(room_impulse_response(sample_rate, rng_room, n_channels)) if reverb > 0 else None
    block = max(1, int(block_s * sample_rate))
    tail = int(np.ceil(source.max_tail_s * sample_rate + WINDOW_S * sample_rate)) + 2  # + look-ahead placement
    carry = np.zeros((n_channels, tail), np.float32)
    smooth = max(1, int(round(TEXTURE_SMOOTH_S * frame_rate)))
    texture_weight = scipy.ndimage.uniform_filter1d(sustained.astype(np.float64), smooth, mode="nearest")
    half = int(np.ceil(WINDOW_S * sample_rate / 2)) + 1
    context = np.zeros(0, np.float32)  # the end of the previous block (level windows and filters reach back)
    k = 0
    for s0 in range(0, n_samples, block):
        n = min(block, n_samples - s0)
        dry = np.zeros((n_channels, n + tail), np.float32)
        dry[:, :tail] += carry
        # Notes up to half a level window past the block are placed now: the levels at its end see them.
        while k < len(notes) and notes[k].sample < s0 + n + half:
            if _place(dry, notes[k], s0, source, rng_events, n_channels, sample_rate):
                details["limited_events"] += 1
            k += 1
        events_mono = dry[:, :n].mean(axis=0)  # what the one-shots already make (texture fills the rest)
        if texture is not None:
            f0 = max(0, int(np.floor(s0 / sample_rate * frame_rate)) - 1)  # the frame before: interpolation
            f1 = min(env.size, int(np.ceil((s0 + n) / sample_rate * frame_rate)) + 2)
            weight = texture_weight[f0:f1]
            tex = texture.read(n)  # read every block: the stream stays continuous
            if weight.any():
                mono = np.concatenate([context, dry[:, : n + half].mean(axis=0)])
                made = frame_levels(mono, sample_rate, frame_rate, f1 - f0, first_frame=f0,
                                    start_sample=s0 - context.size)
                missing = np.sqrt(np.maximum(np.square(env[f0:f1]) - np.square(made), 0.0)) * weight
                dry[:, :n] += (_frames_to_block(missing, f0, frame_rate, sample_rate, s0, n) * tex)[None]
        context = np.concatenate([context, events_mono])[-LEVEL_CONTEXT:]
        out = dry[:, :n].copy()
        carry = dry[:, n:]
        if room is not None:
            out += reverb * room.process(dry[:, :n])
        gain = bed_gain if drift is None else bed_gain * drift.read(n)
        if len(beds) == 1:
            out[0] += gain * beds[0].read(n)
        elif beds:  # partly shared bed: a room, not two unrelated noises
            common, side = beds[0].read(n), beds[1].read(n)
            a, b = np.sqrt((1 + ROOM_TONE_CORRELATION) / 2), np.sqrt((1 - ROOM_TONE_CORRELATION) / 2)
            out[0] += gain * (a * common + b * side)
            out[1] += gain * (a * common - b * side)
        yield soft_clip(out)


@lru_cache(maxsize=8)
def _choke_ramp(sample_rate: int, choke_db: float) -> np.ndarray:
    return np.float32(10 ** (-choke_db / 20)) ** np.linspace(0, 1, max(1, int(CHOKE_S * sample_rate)), dtype=np.float32)


def _place(dry: np.ndarray, note: Note, s0: int, source: FoleySource, rng, n_channels: int,
           sample_rate: int) -> bool:
    """Add one note's one-shot (level, random gain, pan) into the block buffer starting at sample ``s0``;
    True when its peak was turned down to :data:`EVENT_PEAK_CEILING`."""
    shot = source.one_shot(note.level, note.quantile, note.intensity, rng)
    gain = note.level * db_to_gain(rng.normal(0.0, GAIN_SPREAD_DB))
    left, right = _pan_gains(rng.uniform(-PAN_SPREAD, PAN_SPREAD))
    # A limiter with the whole event as look-ahead: a short, loud contact has a high crest factor, and at
    # the envelope's level its peak would reach the soft clipper (a broadband click). It is turned down.
    peak = gain * float(np.max(np.abs(shot))) * (max(left, right) if n_channels == 2 else 1.0)
    limited = peak > EVENT_PEAK_CEILING
    if limited:
        gain *= EVENT_PEAK_CEILING / peak
    at = max(0, note.sample - s0)
    m = min(shot.size, dry.shape[1] - at)
    # A new strike damps what still rings (one object, not two oscillators beating against each other).
    choke = _choke_ramp(sample_rate, source.choke_db)
    ramp = min(choke.size, dry.shape[1] - at)
    dry[:, at : at + ramp] *= choke[:ramp]
    dry[:, at + ramp :] *= choke[-1]
    if n_channels == 1:
        dry[0, at : at + m] += gain * shot[:m]
    else:
        dry[0, at : at + m] += (gain * left) * shot[:m]
        dry[1, at : at + m] += (gain * right) * shot[:m]
    return limited


def _frames_to_block(values: np.ndarray, f0: int, frame_rate: float, sample_rate: int, s0: int, n: int):
    """Per-frame values of frames ``f0..`` interpolated to the block's samples ``[s0, s0 + n)``."""
    t = (np.arange(s0, s0 + n) * (frame_rate / sample_rate) - 0.5) - f0
    return np.interp(t, np.arange(values.size), values).astype(np.float32)
