"""The weight-free ``preview`` engines: an envelope from visible motion, and procedural or sampled synthesis."""

from __future__ import annotations

import numpy as np

from data_catalog.media import VideoInfo, iter_frame_windows
from data_catalog.media.frames import prefetched
from folai_models import envelope as env_math
from folai_models import materials, preview_envelope, preview_synth
from folai_models.rates import VIDEO_FRAME_RATE
from folai_models.windowed_render import iter_windowed_render
from tasks.engines.base import EnvelopeEngine, SynthEngine, fit_length
from tasks.engines.registry import register_envelope_engine, register_synth_engine


@register_envelope_engine("preview")
class PreviewEnvelopeEngine(EnvelopeEngine):
    """Weight-free envelope from visible motion (dense optical flow), CPU only."""

    def predict(self, info: VideoInfo, *, video_sha256: str | None = None,
                features: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        windows = prefetched(iter_frame_windows(info, frame_rate=VIDEO_FRAME_RATE))
        envelope = preview_envelope.estimate_envelope(windows, duration_s=info.duration_s)
        return np.asarray(envelope, dtype=np.float32), env_math.envelope_frame_rate()


@register_synth_engine("preview")
class PreviewSynthEngine(SynthEngine):
    """Weight-free synthesis: procedural materials or grains of the user's sample."""

    def render_blocks(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
                      audio_prompt_rate, seed, video_path=None):
        material = None if audio_prompt is not None else materials.material_from_prompt(prompt)

        def render(env_slice: np.ndarray, window: int) -> np.ndarray:
            return preview_synth.render_from_envelope(
                env_slice, frame_rate, sample_rate=sample_rate, material=material, prompt=prompt,
                audio_prompt=audio_prompt, audio_prompt_sample_rate=audio_prompt_rate, seed=seed + window,
            )

        blocks = iter_windowed_render(render, envelope, frame_rate, sample_rate)
        source = "audio prompt" if audio_prompt is not None else f"procedural material '{material}'"
        return fit_length(blocks, n_samples), {"material": material, "source": source}
