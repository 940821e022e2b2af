"""Material names in text: the synonyms of each material and :func:`material_from_prompt`."""

from __future__ import annotations

import re

DEFAULT_MATERIAL = "wood"  # returned when a prompt names no known material

# Words (case-insensitive, whole words, optional plural -s/-es) that select a material.
MATERIAL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "wood": ("wood", "wooden", "plank", "table", "door", "timber", "log", "stick", "branch"),
    "metal": ("metal", "metallic", "steel", "iron", "pot", "pan", "tin", "aluminum", "aluminium",
              "brass", "copper", "bell", "chain"),
    "glass": ("glass", "bottle", "window", "ceramic", "porcelain", "mug", "jar", "cup"),
    "stone": ("stone", "rock", "concrete", "brick", "tile", "asphalt", "pavement", "marble",
              "drywall", "plaster"),
    "gravel": ("gravel", "pebble", "dirt", "sand", "soil"),
    "grass": ("grass", "leaf", "leaves", "bush", "plant", "foliage", "hay", "straw"),
    "water": ("water", "splash", "puddle", "liquid", "river", "stream", "rain", "pour"),
    "cloth": ("cloth", "fabric", "shirt", "carpet", "cushion", "pillow", "rug", "towel", "jacket",
              "clothes", "clothing"),
    "paper": ("paper", "cardboard", "book", "newspaper", "envelope", "card"),
    "plastic": ("plastic",),
}

# "can" is also a modal verb, so it selects metal only after a determiner or a
# container word ("a can", "the can", "tin can", "soda can"); "cans" always does.
_CAN_PATTERN = re.compile(
    r"\b(?:a|an|the|this|that|tin|soda|beer|paint|trash|garbage|metal|empty)\s+(can)\b|\b(cans)\b",
    re.IGNORECASE,
)
WORD_TO_MATERIAL: dict[str, str] = {
    word: material for material, words in MATERIAL_SYNONYMS.items() for word in words
}
_PROMPT_PATTERN = re.compile(
    r"\b("
    + "|".join(sorted((re.escape(w) for w in WORD_TO_MATERIAL), key=len, reverse=True))
    + r")(?:s|es)?\b",
    re.IGNORECASE,
)


def material_from_prompt(text: str | None) -> str:
    """Pick a material name from the words of a text prompt.

    Matching is case-insensitive and on whole words (plural ``-s``/``-es``
    accepted), with the synonyms of :data:`MATERIAL_SYNONYMS`. **The first
    material word in the prompt wins**: "A person hit multiple times on metal
    with a wooden stick" gives ``"metal"``.

    Parameters
    ----------
    text : str or None
        Free text, e.g. a Greatest Hits caption.

    Returns
    -------
    str
        A key of :data:`folai_models.materials.MATERIALS`;
        :data:`DEFAULT_MATERIAL` (``"wood"``) when ``text`` is ``None``, empty
        or names no material.
    """
    if not text:
        return DEFAULT_MATERIAL
    candidates: list[tuple[int, str]] = []
    word = _PROMPT_PATTERN.search(text)
    if word:
        candidates.append((word.start(1), WORD_TO_MATERIAL[word.group(1).lower()]))
    can = _CAN_PATTERN.search(text)
    if can:
        candidates.append((can.start(1) if can.group(1) else can.start(2), "metal"))
    return min(candidates)[1] if candidates else DEFAULT_MATERIAL
