"""Sampling FolAI's synthesis model with stable-audio-tools' samplers (FolAI V-B: 150 steps, CFG 2).

:func:`generate` renders one window (the envelope interpolated to audio rate
and encoded as the control, latents sampled with guidance, decoded by the
VAE); :func:`windowed_renderer` plugs it into
:func:`folai_models.windowed_render.iter_windowed_render` for any length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from folai_models.synth.control_signal import control_audio
from folai_models.synth.model import CFG_SCALE, Conditioning, FolAISynth

SAMPLING_STEPS = 150  # FolAI V-B: "150 sampling steps"
SAMPLER_TYPE = "dpmpp-3m-sde"  # Stable Audio Open model card's example sampler
SIGMA_MIN = 0.3  # Stable Audio Open model card's example noise range
SIGMA_MAX = 500.0
WINDOW_S = 10.0  # FolAI V-B: the synthesis model is trained on 10 s chunks
# stable-audio-tools' sample_k samplers for v-objective models (its sample_rf ones are for rectified flow)
SAMPLERS = ("dpmpp-3m-sde", "dpmpp-2m-sde", "dpmpp-2m", "k-heun", "k-lms", "k-dpmpp-2s-ancestral", "k-dpm-2",
            "k-dpm-fast", "k-dpm-adaptive", "v-ddim", "v-ddim-cfgpp")


def latent_length(n_samples: int, downsampling_ratio: int) -> int:
    """Latent frames covering ``n_samples`` audio samples (the tail is padded)."""
    return max(1, math.ceil(int(n_samples) / int(downsampling_ratio)))


def sample_latents(model: FolAISynth, cond: Conditioning, control: torch.Tensor | None, noise: torch.Tensor, *,
                   steps: int = SAMPLING_STEPS, cfg_scale: float = CFG_SCALE, sampler_type: str = SAMPLER_TYPE,
                   sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, control_scale: float = 1.0,
                   block_scales: Sequence[float] | None = None, use_controlnet: bool = True) -> torch.Tensor:
    """Latents ``[batch, channels, length]`` from ``noise`` by stable-audio-tools' ``sample_k``.

    The guided v-prediction (:meth:`FolAISynth.guided`) is the model function;
    sampler names are those of :data:`SAMPLERS`.
    """
    from stable_audio_tools.inference.sampling import sample_k

    if sampler_type not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler_type!r}; choose one of {', '.join(SAMPLERS)}")

    def model_fn(x, t, **_):
        return model.guided(x, t, cond, control, cfg_scale=cfg_scale, control_scale=control_scale,
                            block_scales=block_scales, use_controlnet=use_controlnet)

    with torch.no_grad():
        return sample_k(model_fn, noise, None, steps=steps, sampler_type=sampler_type, sigma_min=sigma_min,
                        sigma_max=sigma_max, rho=1.0, device=noise.device)


def generate(model: FolAISynth, envelope: np.ndarray, frame_rate: float, n_samples: int, *,
             clap: torch.Tensor | None = None, cavp: torch.Tensor | None = None, seconds_start: float = 0.0,
             seconds_total: float | None = None, seed: int = 0, batch_size: int = 1,
             device: str | torch.device = "cpu", **sampler_kwargs) -> np.ndarray:
    """Audio following ``envelope``: ``[channels, n_samples]`` (``[batch, channels, n]`` if ``batch_size`` > 1).

    Parameters
    ----------
    model : FolAISynth
    envelope : np.ndarray, shape (n_frames,) or (channels, n_frames)
        RMS envelope over the ``n_samples`` to generate.
    frame_rate : float
        Frames per second of ``envelope``.
    n_samples : int
        Output length at ``model.sample_rate``.
    clap : tensor [clap_dim] or [batch, clap_dim], optional
    cavp : tensor [frames, cavp_dim] or [batch, frames, cavp_dim], optional
    seconds_start, seconds_total : float
        Timing conditions (default: 0 and the window's duration).
    seed : int
        Seed of the initial noise and of the sampler's noise.
    sampler_kwargs
        ``steps``, ``cfg_scale``, ``sampler_type``, ``control_scale``, ``block_scales``, ...
    """
    device = torch.device(device)
    ratio = model.downsampling_ratio
    length = latent_length(n_samples, ratio)
    channels = model.config.audio_channels
    signal = np.zeros((channels, length * ratio), np.float32)  # beyond the envelope: silence
    signal[:, :n_samples] = control_audio(envelope, frame_rate, n_samples, channels)
    control = model.encode_control(torch.from_numpy(signal)[None].to(device)).expand(batch_size, -1, -1)

    def batched(x, dims):
        if x is None:
            return None
        x = x.to(device)
        return x.unsqueeze(0).expand(batch_size, *x.shape) if x.dim() == dims else x

    cond = model.conditioning(batch_size, seconds_start=seconds_start,
                              seconds_total=n_samples / model.sample_rate if seconds_total is None else seconds_total,
                              clap=batched(clap, 1), cavp=batched(cavp, 2), device=device)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    noise = torch.randn((batch_size, model.latent_channels, length), generator=generator).to(device)
    torch.manual_seed(int(seed))  # the SDE samplers draw their own noise
    latents = sample_latents(model, cond, control.contiguous(), noise, **sampler_kwargs)
    audio = model.decode(latents)[..., :n_samples].float().cpu().numpy()
    return audio[0] if batch_size == 1 else audio


def windowed_renderer(model: FolAISynth, frame_rate: float, *, clap: torch.Tensor | None = None,
                      cavp_windows: Callable[[int, int], torch.Tensor | None] | None = None, seed: int = 0,
                      device: str | torch.device = "cpu", **sampler_kwargs) -> Callable[[np.ndarray, int], np.ndarray]:
    """A renderer for :func:`~folai_models.windowed_render.iter_windowed_render`.

    Each window is generated on its own (seed + window index), conditioned on
    its own duration; ``cavp_windows(window_index, n_frames)`` may give the
    window's CAVP embeddings.
    """
    def render(env_slice: np.ndarray, window: int) -> np.ndarray:
        n_samples = int(round(len(env_slice) / frame_rate * model.sample_rate))
        cavp = cavp_windows(window, len(env_slice)) if cavp_windows is not None else None
        return generate(model, env_slice, frame_rate, n_samples, clap=clap, cavp=cavp, seed=seed + window,
                        device=device, **sampler_kwargs)

    return render
