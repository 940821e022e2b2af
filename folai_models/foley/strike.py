"""A procedural strike as it is recorded: the striker's contact, the object, and the dense body around it.

A struck object heard through a microphone is not its few clean modes. Real
drumstick hits (greatest-hits-dev one-shots, docs/REALISM.md) put most of
their energy at 1-8 kHz, where the stick itself rings, and ring on for
0.1-0.4 s as a broadband body of many dense partials (the object coupled to
what it rests on, and the room), the high ones dying first. This module adds
those two parts to a material's modes: :func:`contact` (the striker) and
:class:`DenseBody` (one per take: the same partials on every strike).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from folai_models.materials import dsp


@dataclass(frozen=True)
class Striker:
    """What hits: a band of contact noise and a few short resonances of its own."""

    band_hz: tuple[float, float]  # contact noise band (the upper edge drops for soft strikes)
    tau_s: float  # contact noise decay
    modes: tuple[tuple[float, float], ...]  # (Hz, decay s) of the striker's own ringing
    ring_level: float  # that ringing relative to the contact noise
    thump_level: float  # the support's low thump (:func:`thump`) peak re the strike's, at full intensity


STICK = Striker(  # a wooden drumstick: bright contact, its own modes at 3-7 kHz ringing for ~10 ms
    band_hz=(1000.0, 14000.0), tau_s=0.004, modes=((2900.0, 0.012), (4700.0, 0.008), (6900.0, 0.005)), ring_level=1.0,
    thump_level=0.2)  # greatest-hits-dev hits are bright to 12 kHz (aiSFX log-mel of the loudest frames): a
# 1.2-7 kHz band, ring 0.5 and thump 0.5 left them 5-10 dB dull above 1 kHz and 10 dB boomy below 300 Hz
SHOE = Striker(  # a shoe's heel or sole: softer, lower contact, no ringing of its own; its heel thump is
    band_hz=(250.0, 4000.0), tau_s=0.006, modes=(), ring_level=0.0, thump_level=0.0)  # the step's (sources)
STRIKERS = {"stick": STICK, "shoe": SHOE}

CONTACT_LENGTH_S = 0.08  # the contact's noise and ringing are computed over this long
SOFT_BAND_REACH = 0.6  # a soft strike's contact band reaches 60 % of the striker's upper edge
STRIKER_DETUNE = 0.05  # striker modes vary +-5 % per strike (where on the stick it lands)
BODY_MODES = 24  # dense partials of the body (one set per take)
BODY_BAND_HZ = (250.0, 12000.0)  # ... drawn log-uniformly over this band
BODY_TAU_S = 0.07  # body decay time constant at 1 kHz (a hard object that rings) ...
# ... shorter for what rings less: wood and plastic damp, paper and cloth barely ring, and loose or
# soft ground (dirt, leaves, gravel, stone on soil, water) swallows the strike in ~15 ms
BODY_TAU_BY_MATERIAL_S = {"metal": 0.07, "glass": 0.07, "wood": 0.045, "plastic": 0.045, "paper": 0.03,
                          "cloth": 0.03}
BODY_TAU_LOOSE_S = 0.015  # every other material
BODY_TILT = 0.3  # ... scaled by (1 kHz / f) ** tilt: high partials die first
BODY_NOISE_BANDS_HZ = ((80.0, 400.0), (400.0, 1500.0), (1500.0, 5000.0), (5000.0, 14000.0))  # diffuse part
BODY_NOISE_MIX = 0.5  # diffuse noise relative to the partials
BODY_MODE_TAU_SCALE = 1.5  # partials ring 1.5x as long as the diffuse part
BODY_PARTIAL_JITTER = 0.004  # +-0.4 % per strike: the same object, a slightly different contact point
BODY_ATTACK_S = 0.002  # the body builds up over 2 ms (no step at the contact instant)
BODY_LENGTH_TAUS = 7.0  # the body is computed for this many of its 1 kHz decay times (-60 dB)
# The support's thump: a stick's momentum moves what the object rests on (table, floor, ground) and the
# hand, a heavily damped low mode. Greatest-hits-dev hits carry more energy below ~400 Hz than the
# contact and body alone (aiSFX log-mel of loud frames); adding it measured FAD-SFX 174.9 -> 165.7 (docs/REALISM.md).
THUMP_HZ = (60.0, 160.0)  # the support's lowest mode, drawn once per take (one table, one patch of ground) ...
THUMP_JITTER = 0.03  # ... and within +-3 % per strike (where the stick lands)
THUMP_TAU_S = 0.08  # its decay time constant: a table or soil rings low for ~0.5 s (0.04 s: FAD 167.9; 0.15 s: F1 drops)
THUMP_NOISE_BAND_HZ = (30.0, 300.0)  # the diffuse part of the thump ...
THUMP_NOISE_MIX = 0.7  # ... relative to the mode
THUMP_ATTACK_S = 0.002  # no step at the contact instant
THUMP_LENGTH_TAUS = 7.0  # computed for this many decay times (-60 dB)


def body_tau(material: str) -> float:
    """Decay time constant at 1 kHz of the dense body of a strike on ``material``."""
    return BODY_TAU_BY_MATERIAL_S.get(material, BODY_TAU_LOOSE_S)


def contact(striker: Striker, sample_rate: int, rng: np.random.Generator, intensity: float) -> np.ndarray:
    """The striker's contact: decaying band noise plus its own short modes (peak 1)."""
    n = int(CONTACT_LENGTH_S * sample_rate)
    t = np.arange(n) / sample_rate
    low, high = striker.band_hz
    high = low + (high - low) * (SOFT_BAND_REACH + (1.0 - SOFT_BAND_REACH) * intensity)
    x = dsp.peak1(dsp.band_limit(dsp.white_noise(n, rng) * np.exp(-t / striker.tau_s), sample_rate, low, high))
    if striker.modes:
        ring = np.zeros(n)
        for hz, tau in striker.modes:
            hz *= 1.0 + rng.uniform(-STRIKER_DETUNE, STRIKER_DETUNE)
            ring += rng.uniform(0.4, 1.0) * np.exp(-t / tau) * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
        x += striker.ring_level * dsp.peak1(ring)
    return dsp.peak1(x)


class DenseBody:
    """The broadband ring of a struck object in place: fixed partials per take plus diffuse noise.

    Parameters
    ----------
    rng : np.random.Generator
        Draws the take's partials (frequencies and amplitudes).
    tau_s : float
        Decay time constant at 1 kHz.
    """

    def __init__(self, rng: np.random.Generator, tau_s: float = BODY_TAU_S):
        self.tau_s = tau_s
        self.freqs = np.exp(rng.uniform(np.log(BODY_BAND_HZ[0]), np.log(BODY_BAND_HZ[1]), BODY_MODES))
        self.amps = rng.uniform(0.3, 1.0, BODY_MODES)

    def render(self, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """One strike's body (peak 1)."""
        n = int(self.tau_s * 2.0 * BODY_LENGTH_TAUS * sample_rate)
        t = (np.arange(n) / sample_rate).astype(np.float32)
        noise = np.zeros(n)
        for low, high in BODY_NOISE_BANDS_HZ:
            tau = self._tau(np.sqrt(low * high)) * rng.uniform(0.8, 1.25)
            noise += dsp.band_limit(dsp.white_noise(n, rng), sample_rate, low, high) * np.exp(-t / tau)
        partials = np.zeros(n)
        freqs = self.freqs * (1.0 + rng.uniform(-BODY_PARTIAL_JITTER, BODY_PARTIAL_JITTER, self.freqs.size))
        for hz, amp in zip(freqs, self.amps * rng.uniform(0.6, 1.0, self.amps.size)):
            if hz < dsp.NYQUIST_GUARD * sample_rate:
                tau = np.float32(self._tau(hz) * BODY_MODE_TAU_SCALE)
                partials += amp * np.exp(-t / tau) * np.sin(np.float32(2 * np.pi * hz) * t + np.float32(rng.uniform(0, 6.28)))
        x = BODY_NOISE_MIX * dsp.peak1(noise) + dsp.peak1(partials)
        attack = int(BODY_ATTACK_S * sample_rate)
        x[:attack] *= np.linspace(0.0, 1.0, attack)
        return dsp.peak1(x)

    def _tau(self, hz: float) -> float:
        return self.tau_s * (1000.0 / hz) ** BODY_TILT


def thump(sample_rate: int, rng: np.random.Generator, hz: float) -> np.ndarray:
    """The low thump of the struck object's support (its mode at ``hz``, drawn per take from
    :data:`THUMP_HZ`): a damped low mode plus low noise (peak 1), decaying over :data:`THUMP_TAU_S`."""
    hz *= 1.0 + rng.uniform(-THUMP_JITTER, THUMP_JITTER)
    n = int(THUMP_TAU_S * THUMP_LENGTH_TAUS * sample_rate)
    t = np.arange(n) / sample_rate
    decay = np.exp(-t / THUMP_TAU_S) * np.minimum(1.0, t / THUMP_ATTACK_S)
    mode = np.sin(2 * np.pi * hz * t) * decay
    noise = dsp.band_limit(dsp.white_noise(n, rng), sample_rate, *THUMP_NOISE_BAND_HZ) * decay
    return dsp.peak1(dsp.peak1(mode) + THUMP_NOISE_MIX * dsp.peak1(noise))


def mix(parts: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """Sum ``(gain, signal)`` parts of different lengths, all starting at sample 0."""
    out = np.zeros(max(x.size for _, x in parts))
    for gain, x in parts:
        out[: x.size] += gain * x
    return out

