"""The ``sao`` synth engine: Stable Audio Open 1.0 regenerating the ``foley`` engine's render (audio-to-audio)."""

from __future__ import annotations

import numpy as np

from data_catalog.errors import OptionError
from folai_models.windowed_render import iter_windowed_render
from tasks.engines.base import SynthEngine, fit_length
from tasks.engines.foley import FoleySynthEngine
from tasks.engines.registry import register_synth_engine


@register_synth_engine("sao")
class SAOSynthEngine(SynthEngine):
    """Stable Audio Open 1.0 regenerating the ``foley`` engine's render, conditioned on the text prompt.

    The foley engine renders the envelope (its events sit where the envelope
    says); SAO starts from that render's latent noised to ``init_noise_level``
    and denoises it under its own T5 prompt and seconds conditioning, window by
    window (up to :data:`~folai_models.synth.audio_to_audio.WINDOW_S`,
    crossfaded). Each window keeps the best-timed of ``candidates`` seeds; the
    per-window timing scores go into the run record. Needs ``stable-audio-open``
    and ``t5-base`` in the model store: constructing the engine names each missing file.
    """

    def __init__(self, init_noise_level: float | None = None, steps: int | None = None,
                 cfg_scale: float | None = None, sampler: str | None = None, candidates: int | None = None,
                 room_tone_db: float | None = None, reverb: float | None = None, device: str = "auto"):
        from folai_models.synth import audio_to_audio as a2a
        from folai_models.synth.sampling import SAMPLER_TYPE, SAMPLERS
        from tasks.engines.weights import require_sao_text_weights

        # Checked here, when the batch starts, not when the first video is rendered.
        self.init_noise_level = a2a.check_init_noise_level(
            a2a.INIT_NOISE_LEVEL if init_noise_level is None else init_noise_level)
        self.steps = a2a.STEPS if steps is None else int(steps)
        self.cfg_scale = a2a.CFG_SCALE if cfg_scale is None else float(cfg_scale)
        self.sampler = sampler or SAMPLER_TYPE
        self.candidates = 1 if candidates is None else int(candidates)
        if self.steps < 1 or self.candidates < 1:
            raise OptionError(f"steps and candidates must be at least 1, got {self.steps} and {self.candidates}")
        if not np.isfinite(self.cfg_scale):
            raise OptionError(f"cfg scale must be a finite number, got {cfg_scale!r}")
        if self.sampler not in SAMPLERS:
            raise OptionError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        self.render_engine = FoleySynthEngine(room_tone_db=room_tone_db, reverb=reverb)
        require_sao_text_weights()
        self.device = device

    def settings(self) -> dict:
        return {"init_noise_level": self.init_noise_level, "steps": self.steps, "cfg_scale": self.cfg_scale,
                "sampler": self.sampler, "candidates": self.candidates}

    def render_blocks(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
                      audio_prompt_rate, seed, video_path=None):
        from data_catalog.settings import get_settings
        from folai_models.synth.audio_to_audio import WINDOW_S, windowed_regenerator
        from folai_models.windowed_render import BlockReader, window_spans
        from tasks.engines.weights import load_sao_text_model
        from tasks.feature_tasks import resolve_device

        device = resolve_device(self.device)
        model = load_sao_text_model(str(get_settings().model_dir), device)
        if sample_rate != model.sample_rate:
            raise ValueError(f"Stable Audio Open renders {model.sample_rate} Hz, {sample_rate} Hz was asked for")
        render, render_details = self.render_engine.render_blocks(
            envelope, frame_rate, n_samples=n_samples, sample_rate=sample_rate, prompt=prompt,
            audio_prompt=audio_prompt, audio_prompt_rate=audio_prompt_rate, seed=seed, video_path=video_path)
        envelope = np.asarray(envelope)
        windows: list[dict] = []  # filled as the blocks are rendered; the run record gets it
        regenerate = windowed_regenerator(
            model, BlockReader(render).read, window_spans(envelope, frame_rate, window_s=WINDOW_S), frame_rate,
            prompt or "", seed=seed, candidates=self.candidates, records=windows, device=device,
            init_noise_level=self.init_noise_level, steps=self.steps, cfg_scale=self.cfg_scale,
            sampler_type=self.sampler)
        blocks = iter_windowed_render(regenerate, envelope, frame_rate, sample_rate, window_s=WINDOW_S)
        details = {"source": f"Stable Audio Open audio-to-audio of the foley render ({render_details['source']}), "
                             f"T5 prompt '{prompt or ''}'",
                   "render": render_details, **self.settings(), "windows": windows}
        return fit_length(blocks, n_samples), details

    def describe(self) -> dict:
        return {**self.render_engine.describe(), **self.settings(), "name": self.name}
