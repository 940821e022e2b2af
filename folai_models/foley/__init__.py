"""The Foley renderer: envelope-timed events that sound recorded.

The envelope decides *when* and *how loud*; a source decides *what it
sounds like*: a sampler over the user's sound library (:mod:`.bank`,
:mod:`.select`) or a physically informed procedural material
(:class:`.sources.ProceduralSource`). Events keep their natural tails, a
room-tone bed runs under everything (never digital silence), an optional
small room adds reverberation, and rendering streams block by block
(:func:`.render.render_foley`).

Pure numpy / scipy / soxr / librosa: no file I/O, no Prefect.
"""

from folai_models.foley.bank import BANK_VERSION, SoundBank, analyse_recording, merge_banks
from folai_models.foley.render import loud_event_level, plan, render_foley
from folai_models.foley.sources import (
    FoleySource,
    ProceduralSource,
    SamplerSource,
    bank_from_audio,
    wants_footsteps,
)

__all__ = [
    "BANK_VERSION",
    "loud_event_level",
    "FoleySource",
    "ProceduralSource",
    "SamplerSource",
    "SoundBank",
    "analyse_recording",
    "bank_from_audio",
    "merge_banks",
    "plan",
    "render_foley",
    "wants_footsteps",
]
