"""Where the Foley renderer's sounds come from: a sampler bank or a procedural material.

A source gives, per event, a mono one-shot with its natural tail, at unit
level (its loudest 32 ms window has RMS 1 on the envelope's scale; a sampler
leaves the recorded level in, within a few dB), and two
endless streams: the sustained texture (scrapes, rubs, shuffles) and the room
tone under everything.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod

import numpy as np
import soxr

from folai_models import materials as _materials
from folai_models.foley.bank import SoundBank, analyse_recording
from folai_models.foley.levels import window_level
from folai_models.foley import strike as _strike
from folai_models.foley.select import OneShotSelector
from folai_models.foley.streams import (ROOM_TONE_DRIFT_DB, SPLICE_FADE_S, GranularStream, NoiseBedStream,
                                        SpliceStream)
from folai_models.materials.modal import ModalSpec
from folai_models.preview_synth.measure import EPS, resample

PITCH_SPREAD_SEMITONES = 0.35  # per-hit pitch variation of a one-shot (uniform +-)
# A sampled one-shot plays at its recorded level, turned toward the event's target by at most this: the
# envelope's relative loudness still shows, and a hit keeps the level its timbre and room were recorded at
# (exact envelope levels measured FAD-SFX 54.8 on greatest-hits-dev, +-6 dB 38.3: docs/REALISM.md).
LEVEL_FOLLOW_DB = 6.0
TEXTURE_GRAIN_S = 0.08  # granular texture from sustained material
PROCEDURAL_TEXTURE_CHUNK_S = 2.0  # procedural textures are made in chunks ...
PROCEDURAL_TEXTURE_FADE_S = 0.05  # ... joined with equal-power crossfades
OBJECT_DETUNE = 0.015  # procedural: one object per rendering, each strike within +-1.5 % of its pitch
OBJECT_DAMPING = 0.35  # an object struck in place rests on something: its modes ring 0.35x as long as free
OBJECT_LEVEL = 0.3  # the material's own modes relative to the striker's contact
BODY_LEVEL = 0.25  # the dense body relative to the contact (strike.DenseBody)
SOFT_STRIKE_LEVEL = 0.5  # contact and body of the softest strike relative to the hardest
STRIKE_HIGH_CUT_HZ = 15000.0  # air and microphones: a recorded strike carries little above this ...
STRIKE_HIGH_CUT_ORDER = 8  # ... and nothing past it (greatest-hits-dev hits: ~30 dB less at 16 kHz than at 12 kHz)
TRUNCATED_FADE_S = 0.5  # a ring longer than the longest grain fades out over its last 0.5 s
HEEL_TOE_DELAY_S = (0.05, 0.11)  # footsteps: the toe lands this long after the heel
TOE_LEVEL = (0.5, 0.85)  # ... this loud relative to it (a ball-of-foot slap, a little softer)
HEEL_THUMP_HZ = 90.0  # the body's weight through the shoe: a low thump ...
HEEL_THUMP_TAU_S = 0.025  # ... decaying this fast
HEEL_THUMP_LEVEL = 0.6  # ... relative to the surface sound
STEP_WORDS = ("step", "footstep", "walk", "walking", "walks", "run", "running", "jog", "stomp", "tread")
# Room tone spectra, (Hz, dB) of power density. Indoors: ventilation rumble at 40-160 Hz, then falling
# ~7 dB/octave above 1 kHz (greatest-hits-dev quiet stretches on aiSFX's log-mel: the earlier ~5 dB/octave
# bed was 4-5 dB too bright at 3-9 kHz; darker measured FAD-SFX 143.4 -> 134.4); little above 13 kHz.
# Outdoors is darker and windier.
ROOM_TONE_INDOOR = ((10, -12), (30, -5), (60, 0), (120, -1), (230, -5), (450, -10), (900, -15), (1800, -23),
                    (3500, -31), (7000, -42), (13000, -50), (16000, -60), (22050, -80))
ROOM_TONE_OUTDOOR = ((10, -3), (30, 0), (60, -2), (120, -6), (250, -12), (500, -17), (1000, -23), (2000, -30),
                     (4000, -37), (8000, -45), (13000, -52), (16000, -62), (22050, -80))
OUTDOOR_MATERIALS = frozenset({"gravel", "grass", "water", "stone"})
PROCEDURAL_ROOM_TONE_DB = -28.0  # bed re the loud hits: a field recording's floor (FAD-SFX -31: 136.8, -28: 134.4, -25: 140.8)
PROCEDURAL_REVERB = 0.0  # no added room: the dev recordings are close-miked (FAD-SFX 0.12: 167.9, dry: 163.5)
# A new strike damps what still rings: one object, not two detuned oscillators beating against each other
# (their beating made false onsets). A stick re-striking a synthetic object stops it almost dead; a
# recording's tail also holds its room, which the next hit does not silence.
PROCEDURAL_CHOKE_DB = 30.0
SAMPLER_CHOKE_DB = 12.0


class FoleySource(ABC):
    """One-shots and streams for :func:`folai_models.foley.render.render_foley`."""

    description: str
    natural_room_tone_db: float  # room tone level relative to the loud events' level
    default_reverb: float  # wet level of the small room when the user sets none
    max_tail_s: float  # longest one-shot this source returns
    choke_db: float  # how much a new event damps what still rings (over render.CHOKE_S)
    room_tone_drift_db: float  # how far the room tone's level drifts (streams.LevelDrift; 0 for a recorded bed)

    @abstractmethod
    def one_shot(self, level: float, quantile: float, intensity: float, rng: np.random.Generator) -> np.ndarray:
        """Mono one-shot for an event of target ``level`` (envelope RMS), intensity rank ``quantile``
        among the clip's events and absolute ``intensity`` in [0, 1]; the renderer multiplies it by
        ``level``, so a unit-level one-shot lands on the target."""

    @abstractmethod
    def texture_stream(self, rng: np.random.Generator):
        """An object with ``read(n) -> unit-RMS float32 samples``: the sustained texture."""

    @abstractmethod
    def room_tone_stream(self, rng: np.random.Generator):
        """An object with ``read(n) -> unit-RMS float32 samples``: the room tone."""


def _pitch_shift(x: np.ndarray, semitones: float, sample_rate: int) -> np.ndarray:
    """Tape-style pitch shift (duration changes with pitch, as a resampled one-shot's does)."""
    if abs(semitones) < 1e-3:
        return x
    ratio = 2.0 ** (semitones / 12.0)
    return soxr.resample(x, sample_rate * ratio, sample_rate, quality="LQ").astype(np.float32)


class SamplerSource(FoleySource):
    """One-shots, textures and room tone from a :class:`SoundBank` (a user's library or sample)."""

    default_reverb = 0.0  # recordings carry their own room
    choke_db = SAMPLER_CHOKE_DB

    def __init__(self, bank: SoundBank, sample_rate: int, prompt: str | None, rng: np.random.Generator,
                 level_follow_db: float = LEVEL_FOLLOW_DB):
        if len(bank) == 0:
            raise ValueError("the sound library has no usable one-shots")
        if bank.sample_rate != sample_rate:
            raise ValueError(f"bank at {bank.sample_rate} Hz, rendering at {sample_rate} Hz")
        self.bank = bank
        self.sample_rate = sample_rate
        self._selector = OneShotSelector(bank, prompt, rng)
        self.natural_room_tone_db = float(np.median(bank.room_tone_db)) if bank.room_tone_db.size else -40.0
        self._recorded_room = any(r.size > 4 * SPLICE_FADE_S * sample_rate for r in bank.room_tone)
        self.room_tone_drift_db = 0.0 if self._recorded_room else ROOM_TONE_DRIFT_DB  # a recording moves by itself
        self.max_tail_s = float(bank.durations_s.max()) * 2 ** (PITCH_SPREAD_SEMITONES / 12) + 0.01
        self.description = (f"sampler: {len(bank)} one-shots, {len(bank.sustained)} sustained and "
                            f"{len(bank.room_tone)} room-tone regions from {len(set(bank.names))} file(s)")
        if not level_follow_db >= 0.0:
            raise ValueError(f"level_follow_db must be >= 0 (inf: exactly the envelope), got {level_follow_db!r}")
        self.level_follow_db = float(level_follow_db)
        self.chosen: list[int] = []  # one-shot index per event, in order (for the record and tests)

    def one_shot(self, level, quantile, intensity, rng):
        """The chosen one-shot at unit level times (its recorded level / ``level``), that ratio kept
        within +-``level_follow_db``: the renderer's gain of ``level`` then leaves it near its recorded level."""
        k = self._selector.choose(quantile)
        self.chosen.append(k)
        shot = _pitch_shift(self.bank.one_shots[k], rng.uniform(-PITCH_SPREAD_SEMITONES, PITCH_SPREAD_SEMITONES),
                            self.sample_rate)
        if np.isinf(self.level_follow_db):
            return shot
        toward_recorded_db = np.clip(self.bank.level_db[k] - 20 * np.log10(max(level, 1e-9)),
                                     -self.level_follow_db, self.level_follow_db)
        return shot * np.float32(10 ** (toward_recorded_db / 20))

    def texture_stream(self, rng):
        sources = self.bank.sustained or self.bank.one_shots
        return GranularStream(sources, TEXTURE_GRAIN_S, self.sample_rate, rng)

    def room_tone_stream(self, rng):
        if self._recorded_room:
            return SpliceStream(self.bank.room_tone, self.sample_rate, rng)
        return NoiseBedStream(self.sample_rate, rng, ROOM_TONE_INDOOR)


class _ChunkedTexture:
    """A procedural texture as an endless stream: chunks joined by equal-power crossfades."""

    def __init__(self, material, sample_rate: int, rng: np.random.Generator):
        self._material, self._rate, self._rng = material, sample_rate, rng
        self._fade = int(PROCEDURAL_TEXTURE_FADE_S * sample_rate)
        self._buffer = np.zeros(0, np.float32)
        self._carry = None

    def _chunk(self) -> np.ndarray:
        n = int(PROCEDURAL_TEXTURE_CHUNK_S * self._rate) + self._fade
        x = np.asarray(self._material.texture(n, self._rate, self._rng), np.float32)
        if self._carry is not None:
            t = np.linspace(0.0, np.pi / 2, self._fade, endpoint=False, dtype=np.float32)
            x[: self._fade] = self._carry * np.cos(t) + x[: self._fade] * np.sin(t)
        self._carry = x[-self._fade :].copy()
        return x[: -self._fade]

    def read(self, n: int) -> np.ndarray:
        while self._buffer.size < n:
            self._buffer = np.concatenate([self._buffer, self._chunk()])
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def wants_footsteps(prompt: str | None) -> bool:
    """True when a prompt asks for steps ("footsteps on gravel", "a man walking")."""
    words = set((prompt or "").lower().replace("-", " ").split())
    return any(w.rstrip("s") in STEP_WORDS or w in STEP_WORDS for w in words)


class ProceduralSource(FoleySource):
    """Physically informed procedural material: one struck object per rendering, varied per strike.

    Modal materials keep one object's modes for the whole rendering (a real
    take strikes one object) and vary every strike around it: pitch within
    :data:`OBJECT_DETUNE`, mode amplitudes and decays (strike position). The
    striker's contact (a wooden stick, or a shoe for steps; its band grows with
    intensity) and the take's dense body (:mod:`folai_models.foley.strike`) are
    what make it sound recorded rather than synthesized. With a footsteps prompt
    every event is a heel-toe pair over the material.
    """

    default_reverb = PROCEDURAL_REVERB
    natural_room_tone_db = PROCEDURAL_ROOM_TONE_DB
    room_tone_drift_db = ROOM_TONE_DRIFT_DB
    choke_db = PROCEDURAL_CHOKE_DB

    def __init__(self, material: str, sample_rate: int, rng: np.random.Generator, footsteps: bool = False):
        self.name = _materials.resolve_material(material)
        self.material = _materials.get_material(self.name)
        self.sample_rate = sample_rate
        self.footsteps = footsteps
        self._spec = self._object_spec(rng)
        self.striker = _strike.STRIKERS["shoe" if footsteps else "stick"]
        self._body = _strike.DenseBody(rng, _strike.body_tau(self.name))
        self._thump_hz = rng.uniform(*_strike.THUMP_HZ)  # one support per take
        self.max_tail_s = _materials.dsp.MAX_GRAIN_S + HEEL_TOE_DELAY_S[1] + 0.01
        kind = "footsteps on " if footsteps else ""
        self.description = f"procedural {kind}'{self.name}'"

    def _object_spec(self, rng) -> ModalSpec | None:
        grain = self.material.grain
        spec = grain.args[0] if hasattr(grain, "args") and grain.args and isinstance(grain.args[0], ModalSpec) else None
        if spec is None:
            return None
        base = rng.uniform(*spec.base_hz)
        return dataclasses.replace(spec, base_hz=(base * (1 - OBJECT_DETUNE), base * (1 + OBJECT_DETUNE)))

    def _strike(self, intensity: float, rng) -> np.ndarray:
        if self._spec is None:
            obj = np.asarray(self.material.grain(self.sample_rate, rng, intensity=intensity), np.float64)
        else:
            spec = dataclasses.replace(self._spec, decays_s=tuple(d * OBJECT_DAMPING for d in self._spec.decays_s),
                                       click_level=0.0)  # the striker makes the contact
            obj = np.asarray(_materials.modal.modal_grain(spec, self.sample_rate, rng, intensity=intensity), np.float64)
        hit = _strike.mix([(1.0, _strike.contact(self.striker, self.sample_rate, rng, intensity)),
                           (BODY_LEVEL, self._body.render(self.sample_rate, rng))])
        hardness = SOFT_STRIKE_LEVEL + (1 - SOFT_STRIKE_LEVEL) * intensity
        x = _strike.mix([(OBJECT_LEVEL, obj), (hardness, hit)])
        x = _materials.dsp.band_limit(x, self.sample_rate, None, STRIKE_HIGH_CUT_HZ, order=STRIKE_HIGH_CUT_ORDER)
        if not self.striker.thump_level:
            return x
        thump_gain = self.striker.thump_level * hardness * float(np.max(np.abs(x)))
        return _strike.mix([(1.0, x), (thump_gain, _strike.thump(self.sample_rate, rng, self._thump_hz))])

    def _step(self, intensity: float, rng) -> np.ndarray:
        heel = self._strike(intensity, rng)
        n = int(HEEL_THUMP_TAU_S * 7 * self.sample_rate)
        t = np.arange(n) / self.sample_rate
        thump = np.sin(2 * np.pi * HEEL_THUMP_HZ * t) * np.exp(-t / HEEL_THUMP_TAU_S)
        toe = self._strike(max(0.0, intensity - 0.2), rng)
        delay = int(rng.uniform(*HEEL_TOE_DELAY_S) * self.sample_rate)
        out = np.zeros(max(heel.size, n, delay + toe.size))
        out[: heel.size] += heel
        out[:n] += HEEL_THUMP_LEVEL * thump
        out[delay : delay + toe.size] += rng.uniform(*TOE_LEVEL) * toe
        return out

    def one_shot(self, level, quantile, intensity, rng):
        x = self._step(intensity, rng) if self.footsteps else self._strike(intensity, rng)
        fade = int(TRUNCATED_FADE_S * self.sample_rate)
        if x.size >= int(_materials.dsp.MAX_GRAIN_S * self.sample_rate) - 1 and x.size > fade:
            x[-fade:] *= np.cos(np.linspace(0.0, np.pi / 2, fade)) ** 2  # a long ring fades, never stops dead
        level = window_level(x, self.sample_rate)
        return (x / (level + EPS)).astype(np.float32)

    def texture_stream(self, rng):
        return _ChunkedTexture(self.material, self.sample_rate, rng)

    def room_tone_stream(self, rng):
        return NoiseBedStream(self.sample_rate, rng,
                              ROOM_TONE_OUTDOOR if self.name in OUTDOOR_MATERIALS else ROOM_TONE_INDOOR)


def bank_from_audio(audio: np.ndarray, audio_rate: float, sample_rate: int, name: str = "audio prompt") -> SoundBank:
    """A :class:`SoundBank` from one in-memory sample (mono or ``[channels, n]``), at ``sample_rate``."""
    y = np.asarray(audio, np.float64)
    y = y if y.ndim == 1 else y.mean(axis=0)
    return analyse_recording(resample(y, float(audio_rate), float(sample_rate)).astype(np.float32), sample_rate, name)
