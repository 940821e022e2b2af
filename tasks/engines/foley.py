"""The ``foley`` synth engine: envelope-timed events from a sampler over the user's library or procedural materials."""

from __future__ import annotations

import numpy as np

from data_catalog.errors import OptionError
from folai_models import materials
from tasks.engines.base import SynthEngine, fit_length
from tasks.engines.registry import register_synth_engine


@register_synth_engine("foley")
class FoleySynthEngine(SynthEngine):
    """Envelope-timed events that sound recorded: a sampler over the user's library or procedural materials.

    The envelope places every event and sets its loudness; one-shots keep
    their natural tails, sustained stretches get textures, and a room-tone bed
    runs under everything (:mod:`folai_models.foley`). ``audio_prompt`` is a
    :class:`~folai_models.foley.SoundBank` (``tasks.library_tasks.sound_bank_task``)
    or one in-memory sample; without it the text prompt picks a procedural
    material (footsteps when it asks for steps).
    """

    def __init__(self, room_tone_db: float | None = None, reverb: float | None = None):
        # Checked here, when the batch starts, not when the first video is rendered.
        if room_tone_db is not None and not (room_tone_db <= 0.0):  # NaN fails too; -inf turns it off
            raise OptionError(f"room tone level must be at most 0 dBFS (or -inf for none), got {room_tone_db!r}")
        if reverb is not None and not (0.0 <= reverb <= 1.0):
            raise OptionError(f"reverb must be a wet level in [0, 1], got {reverb!r}")
        self.room_tone_db = room_tone_db
        self.reverb = reverb

    def render_blocks(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
                      audio_prompt_rate, seed, video_path=None):
        from data_catalog.errors import SonorizeInputError
        from folai_models import foley

        source_rng = np.random.default_rng([seed, 1])
        if audio_prompt is not None:
            bank = audio_prompt if isinstance(audio_prompt, foley.SoundBank) else \
                foley.bank_from_audio(audio_prompt, audio_prompt_rate, sample_rate)
            if len(bank) == 0:
                raise SonorizeInputError(None, "audio prompt: no usable one-shots ("
                                         + "; ".join(bank.skipped or ["nothing above its noise floor"]) + ")")
            source = foley.SamplerSource(bank, sample_rate, prompt, source_rng)
        else:
            source = foley.ProceduralSource(materials.material_from_prompt(prompt), sample_rate, source_rng,
                                            footsteps=foley.wants_footsteps(prompt))
        blocks, details = foley.render_foley(envelope, frame_rate, sample_rate, n_samples, source, seed=seed,
                                             room_tone_db=self.room_tone_db, reverb=self.reverb)
        return fit_length(blocks, n_samples), details

    def describe(self) -> dict:
        return {"name": self.name, "room_tone_db": self.room_tone_db, "reverb": self.reverb}
