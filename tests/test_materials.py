"""Procedural materials of the preview engine: grains, textures, prompt parsing."""

from __future__ import annotations

import numpy as np
import pytest

from folai_models import materials as M

SR = 44100
REQUIRED = ("wood", "metal", "glass", "stone", "gravel", "grass", "water", "cloth", "paper")


def _centroid_hz(x: np.ndarray, sample_rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / sample_rate)
    return float(np.sum(freqs * spectrum) / np.sum(spectrum))


def _time_to_db(x: np.ndarray, db: float, sample_rate: int = SR) -> float:
    """Seconds until the 10 ms RMS falls below ``db`` relative to its maximum, for good."""
    hop = int(0.01 * sample_rate)
    frames = x[: x.size // hop * hop].reshape(-1, hop)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    above = np.flatnonzero(rms >= rms.max() * 10 ** (db / 20))
    return (above[-1] + 1) * hop / sample_rate


def test_registry_has_required_materials():
    assert set(REQUIRED) <= set(M.MATERIALS)
    for name, material in M.MATERIALS.items():
        assert material.name == name and callable(material.grain) and callable(material.texture)


@pytest.mark.parametrize("name", sorted(M.MATERIALS))
def test_grain_is_finite_peak_normalized_and_starts_at_contact(name):
    rng = np.random.default_rng(0)
    grain = M.MATERIALS[name].grain(SR, rng)
    assert grain.dtype == np.float32 and grain.ndim == 1
    assert np.all(np.isfinite(grain))
    assert np.max(np.abs(grain)) == pytest.approx(1.0, abs=1e-5)
    assert grain.size <= int(M.MAX_GRAIN_S * SR) + 1
    # non-silent, and the hit is at the start: the first 20 ms hold energy
    assert np.sqrt(np.mean(grain.astype(np.float64) ** 2)) > 0.01
    assert np.max(np.abs(grain[: int(0.02 * SR)])) > 0.3


@pytest.mark.parametrize("name", sorted(M.MATERIALS))
def test_texture_is_finite_unit_rms_and_exact_length(name):
    rng = np.random.default_rng(1)
    n = int(0.7 * SR) + 3
    tex = M.MATERIALS[name].texture(n, SR, rng)
    assert tex.dtype == np.float32 and tex.shape == (n,)
    assert np.all(np.isfinite(tex))
    assert np.sqrt(np.mean(tex.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-3)
    assert np.max(np.abs(tex)) <= M.TEXTURE_MAX_CREST * 1.25  # soft crest cap (then renormalized)


@pytest.mark.parametrize("name", sorted(M.MATERIALS))
def test_repeated_hits_differ_but_seeds_reproduce(name):
    rng = np.random.default_rng(7)
    a = M.MATERIALS[name].grain(SR, rng)
    b = M.MATERIALS[name].grain(SR, rng)
    n = min(a.size, b.size)
    assert not np.allclose(a[:n], b[:n])
    again = M.render_grain(name, SR, seed=3)
    assert np.array_equal(again, M.render_grain(name, SR, seed=3))


def test_metal_and_glass_ring_longer_than_wood_and_stone():
    def ring(name):
        return np.median([_time_to_db(M.render_grain(name, SR, seed=s), -40.0) for s in range(5)])

    assert ring("metal") > 3 * ring("wood")
    assert ring("glass") > 3 * ring("wood")
    assert ring("stone") < 0.1
    assert ring("wood") < 0.4


def test_glass_is_brighter_than_wood_and_cloth_is_dull():
    def centroid(name):
        return np.median([_centroid_hz(M.render_grain(name, SR, seed=s)) for s in range(5)])

    assert centroid("glass") > 2 * centroid("wood")
    assert centroid("cloth") < centroid("paper")


def test_soft_hits_are_darker_than_hard_hits():
    def centroid(intensity):
        grains = [M.render_grain("metal", SR, seed=s, intensity=intensity) for s in range(5)]
        return np.median([_centroid_hz(g) for g in grains])

    assert centroid(0.0) < centroid(1.0)


def test_max_duration_truncates_with_fade():
    grain = M.render_grain("metal", SR, seed=0, max_duration_s=0.1)
    assert grain.size == int(round(0.1 * SR))
    assert abs(grain[-1]) < 1e-3


def test_render_texture_zero_length():
    assert M.render_texture("wood", 0).shape == (0,)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # the first material word wins: "metal" comes before "wooden"
        ("A person hit multiple times on metal with a wooden stick", "metal"),
        ("A person scratch once on wood with a wooden stick", "wood"),
        ("hitting a GLASS bottle", "glass"),
        ("footsteps on Concrete", "stone"),
        ("walking on pebbles", "gravel"),
        ("rustling leaves", "grass"),
        ("a leaf falls", "grass"),
        ("splash in a puddle", "water"),
        ("dropping a cushion on the carpet", "cloth"),
        ("tearing cardboard", "paper"),
        ("kicking a tin can", "metal"),
        ("you can hear water", "water"),  # "can" the verb is not a tin can
        ("steel drum, then wood", "metal"),
        ("ceramic plate", "glass"),
        ("brick wall", "stone"),
        ("woodpecker", "wood"),  # no whole material word -> default
        ("a loud bang", "wood"),
        ("", "wood"),
        (None, "wood"),
    ],
)
def test_material_from_prompt(prompt, expected):
    assert M.material_from_prompt(prompt) == expected


def test_default_material_is_wood():
    assert M.DEFAULT_MATERIAL == "wood"
    assert M.material_from_prompt("nothing relevant") == M.DEFAULT_MATERIAL


def test_resolve_material_accepts_names_and_synonyms():
    assert M.resolve_material("Metal") == "metal"
    assert M.resolve_material("concrete") == "stone"
    assert M.resolve_material("leaves") == "grass"
    assert M.get_material("glass").name == "glass"


def test_unknown_material_lists_valid_names():
    with pytest.raises(ValueError, match="unknown material 'lava'") as info:
        M.resolve_material("lava")
    for name in REQUIRED:
        assert name in str(info.value)
