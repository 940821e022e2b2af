"""The ``folai`` synth engine: Stable Audio Open + the envelope ControlNet (FolAI IV-D, SPEC stage 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_catalog.errors import OptionError
from folai_models.rates import CAVP_FRAME_RATE
from folai_models.windowed_render import iter_windowed_render
from tasks.engines.base import SynthEngine, fit_length
from tasks.engines.registry import register_synth_engine


@register_synth_engine("folai")
class FolAISynthEngine(SynthEngine):
    """FolAI's neural synthesis: Stable Audio Open + the envelope ControlNet (SPEC stage 10).

    Needs ``stable-audio-open`` in the model store and a trained ControlNet
    checkpoint (``train-controlnet`` flow); constructing the engine checks
    both and names what is missing. Windows of :data:`WINDOW_S` (the training
    chunk length) are generated independently and crossfaded.
    """

    def __init__(self, checkpoint: str | Path | None = None, device: str = "auto", **sampler_kwargs):
        from tasks.engines.weights import (
            default_controlnet_checkpoint,
            require_folai_weights,
        )

        self.checkpoint = Path(checkpoint) if checkpoint else default_controlnet_checkpoint()
        require_folai_weights(self.checkpoint)
        self.device = device
        self.sampler_kwargs = sampler_kwargs

    def render_blocks(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
                      audio_prompt_rate, seed, video_path=None):
        from folai_models.synth.sampling import WINDOW_S, windowed_renderer
        from tasks.engines.weights import load_folai_model
        from tasks.feature_tasks import resolve_device

        device = resolve_device(self.device)
        model = load_folai_model(str(self.checkpoint), device)
        if sample_rate != model.sample_rate:
            raise ValueError(f"the folai model renders {model.sample_rate} Hz, {sample_rate} Hz was asked for")
        clap, source = None, "envelope only (no prompt: semantic conditions null)"
        if audio_prompt is not None or prompt:
            from tasks.engines.weights import load_clap

            embedder = load_clap(device=device)
            if audio_prompt is not None:  # the shared CLAP space: an audio prompt or a text prompt
                clap, source = embedder.embed_audio(audio_prompt[None], audio_prompt_rate)[0], "CLAP audio prompt"
            else:
                clap, source = embedder.embed_text([prompt])[0], f"CLAP text prompt '{prompt}'"
        cavp_windows = None
        if model.conditioned_on_cavp:
            if video_path is None:
                raise OptionError("this ControlNet was trained with CAVP video conditioning: it needs the video")
            from tasks.engines.weights import load_cavp, video_cavp_embeddings

            frames = video_cavp_embeddings(video_path, load_cavp(device=device), device)
            cavp_windows = cavp_windows(frames, np.asarray(envelope), frame_rate, WINDOW_S)
            source += ", CAVP video embeddings"
        render = windowed_renderer(model, frame_rate, clap=clap, cavp_windows=cavp_windows, seed=seed,
                                   device=device, **self.sampler_kwargs)
        blocks = iter_windowed_render(render, envelope, frame_rate, sample_rate, window_s=WINDOW_S)
        return fit_length(blocks, n_samples), {"source": f"Stable Audio Open + envelope ControlNet, {source}",
                                               "checkpoint": str(self.checkpoint)}

    def describe(self) -> dict:
        return {"name": self.name, "checkpoint": str(self.checkpoint)}


def cavp_windows(frames, envelope: np.ndarray, frame_rate: float, window_s: float):
    """Slices of a video's 4 fps CAVP embeddings matching the windows iter_windowed_render cuts."""
    from folai_models.windowed_render import OVERLAP_S, cut_frames

    bounds = [0, *cut_frames(envelope, frame_rate, window_s=window_s), len(envelope)]
    overlap = int(np.ceil(OVERLAP_S * frame_rate))

    def window(index: int, n_frames: int):
        start_s = max(0, bounds[index] - overlap) / frame_rate
        first = min(int(round(start_s * CAVP_FRAME_RATE)), max(0, len(frames) - 1))
        count = max(1, int(round(n_frames / frame_rate * CAVP_FRAME_RATE)))
        part = frames[first:first + count]
        if len(part) < count:  # the envelope runs past the last decoded frame: hold it
            part = np.concatenate([np.asarray(part), np.repeat(np.asarray(frames[-1:]), count - len(part), 0)])
        import torch

        return torch.as_tensor(np.asarray(part))

    return window
