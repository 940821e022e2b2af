"""Procedural materials for the preview engine.

Each material is two cheap, physically-motivated renderers:

- an **impact grain** (one hit): modal synthesis for resonant solids
  (sums of exponentially damped sinusoids with material-typical mode ratios,
  inharmonicity and decay times) plus a short contact click, or shaped
  noise bursts / micro-grain clouds for granular and soft materials;
- a **sustained texture** (scraping, rubbing, continuous motion): the same
  resonators driven by friction noise and stick-slip pulses, or filtered
  noise modulated by random crackle.

Modules: :mod:`.dsp` (shared tunables and DSP helpers), :mod:`.modal` (wood,
metal, glass, plastic), :mod:`.stone`, :mod:`.gravel`, :mod:`.noise` (grass,
cloth, paper), :mod:`.water`, :mod:`.prompt` (material words in text). This
module holds the registry :data:`MATERIALS` and the lookups and renderers.

Conventions
-----------
- Grains are float32, 1-D, start at index 0 (the contact instant) and are
  normalized to **peak 1**.
- Textures are float32, 1-D, exactly ``n_samples`` long and normalized to
  **unit RMS** (crest factor softly capped near :data:`TEXTURE_MAX_CREST`).
- All randomness comes from the ``numpy.random.Generator`` passed in, so a
  seeded generator gives identical output; successive calls give varied
  hits (random detuning, mode amplitudes, decay times, noise).

Pure numpy/scipy: no file I/O, no global state besides filter-design caches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from folai_models.materials.dsp import MAX_GRAIN_S, TEXTURE_MAX_CREST
from folai_models.materials.gravel import gravel_grain, gravel_texture
from folai_models.materials.modal import GLASS, METAL, PLASTIC, WOOD, modal_grain, modal_texture
from folai_models.materials.noise import (
    cloth_grain,
    cloth_texture,
    grass_grain,
    grass_texture,
    paper_grain,
    paper_texture,
)
from folai_models.materials.prompt import (
    DEFAULT_MATERIAL,
    MATERIAL_SYNONYMS,
    WORD_TO_MATERIAL,
    material_from_prompt,
)
from folai_models.materials.stone import stone_grain, stone_texture
from folai_models.materials.water import water_grain, water_texture

__all__ = [
    "DEFAULT_MATERIAL",
    "MATERIALS",
    "MATERIAL_SYNONYMS",
    "TEXTURE_MAX_CREST",
    "Material",
    "get_material",
    "material_from_prompt",
    "render_grain",
    "render_texture",
    "resolve_material",
]

GrainFn = Callable[..., np.ndarray]
TextureFn = Callable[[int, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Material:
    """A procedural material: one impact-grain and one sustained-texture renderer.

    Attributes
    ----------
    name : str
        Registry key.
    grain : callable
        ``grain(sample_rate, rng, *, intensity=1.0, max_duration_s=None)`` ->
        float32 1-D array, peak 1, starting at the contact instant.
        ``intensity`` in [0, 1] sets brightness (harder hits excite higher
        modes); ``max_duration_s`` truncates the tail (with a short fade).
    texture : callable
        ``texture(n_samples, sample_rate, rng)`` -> float32 1-D array of
        exactly ``n_samples``, unit RMS.
    description : str
        One line for humans.
    """

    name: str
    grain: GrainFn
    texture: TextureFn
    description: str


def _modal(name: str, spec, description: str) -> Material:
    """A modal solid: the shared modal renderers bound to ``spec``."""
    return Material(name, partial(modal_grain, spec), partial(modal_texture, spec), description)


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        _modal("wood", WOOD, "short, few low modes; resonant scrape"),
        _modal("metal", METAL, "long, bright, inharmonic ringing"),
        _modal("glass", GLASS, "high, clear, long ring (also ceramic)"),
        Material("stone", stone_grain, stone_texture, "short noisy click and thud (also concrete)"),
        Material("gravel", gravel_grain, gravel_texture, "clusters of pebble micro-grains"),
        Material("grass", grass_grain, grass_texture, "crackly high-passed noise (also leaves)"),
        Material("water", water_grain, water_texture, "chirping Minnaert bubbles and splash"),
        Material("cloth", cloth_grain, cloth_texture, "soft low-passed noise (also carpet)"),
        Material("paper", paper_grain, paper_texture, "crinkly band-passed noise (also cardboard)"),
        _modal("plastic", PLASTIC, "hollow mid modes, short decay"),
    )
}


def resolve_material(name: str) -> str:
    """Normalize an explicit material name (registry key or synonym, any case).

    Raises
    ------
    ValueError
        If ``name`` is neither a material nor one of its synonyms; the message
        lists the valid names.
    """
    key = str(name).strip().lower()
    if key in MATERIALS:
        return key
    if key in WORD_TO_MATERIAL:
        return WORD_TO_MATERIAL[key]
    raise ValueError(f"unknown material {name!r}; valid materials: {', '.join(sorted(MATERIALS))}")


def get_material(name: str) -> Material:
    """The :class:`Material` for a name or synonym (see :func:`resolve_material`)."""
    return MATERIALS[resolve_material(name)]


def _generator(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def render_grain(
    material: str,
    sample_rate: int = 44100,
    *,
    seed: int | np.random.Generator = 0,
    intensity: float = 1.0,
    max_duration_s: float | None = None,
) -> np.ndarray:
    """Render one impact grain of ``material`` (float32, 1-D, peak 1).

    ``intensity`` in [0, 1] (clipped): harder hits are brighter.
    """
    grain = get_material(material).grain
    intensity = float(np.clip(intensity, 0.0, 1.0))
    return grain(int(sample_rate), _generator(seed), intensity=intensity,
                 max_duration_s=max_duration_s)


def render_texture(
    material: str,
    n_samples: int,
    sample_rate: int = 44100,
    *,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Render ``n_samples`` of ``material``'s sustained texture (float32, unit RMS)."""
    texture = get_material(material).texture
    if n_samples <= 0:
        return np.zeros(0, dtype=np.float32)
    return texture(int(n_samples), int(sample_rate), _generator(seed))
