"""Stable Audio Open 1.0 audio-to-audio: regenerate an envelope-timed render, conditioned on text.

SAO as published (DiT + Oobleck VAE + its T5 prompt and seconds conditioners),
sampled the way stable-audio-tools' ``generate_diffusion_cond(init_audio=...,
init_noise_level=...)`` does: the input's latent plus noise of standard
deviation ``init_noise_level`` is the first sample, and the sampler denoises
from that level (its ``sigma_max``) down. A low level keeps the input (its
timing); a high one lets the model move toward what the prompt describes.
Level 0 skips sampling: the output is the input's VAE round trip.

Timing is checked afterwards: the output's RMS envelope is scored against
the requested one (:func:`timing_scores`), and of several candidates (seeds)
per window the best-timed is kept (:func:`windowed_regenerator`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from folai_models.synth import sao
from folai_models.synth.control_signal import encode_deterministic
from folai_models.synth.sampling import SAMPLER_TYPE, SAMPLERS, SIGMA_MIN, latent_length
from folai_models.synth.t5_conditioner import T5TextConditioner, create_t5_encoder, encoder_state_dict
from folai_models.windowed_render import frame_to_sample

INIT_NOISE_LEVEL = 2.0  # our default: the render's onsets survive, its timbre does not (sigma in latent units)
STEPS = 100  # Stable Audio Open model card example: steps=100
CFG_SCALE = 7.0  # Stable Audio Open model card example: cfg_scale=7
WINDOW_S = 47.0  # SAO 1.0 generates up to 47 s (model_config sample_size 2097152 at 44.1 kHz = 47.55 s)
PROMPT_ID = "prompt"  # SAO 1.0 model_config.json: the T5 conditioner's id
TIMING_KEYS = ("e_l1", "correlation", "onset_f1", "onset_precision", "onset_recall")  # what a window records


def create_sao_text_model(config: dict[str, Any], t5_config: dict[str, Any], tokenizer):
    """SAO from its ``model_config.json`` *with* its T5 prompt conditioner (random weights).

    The DiT, VAE and number conditioners are stable-audio-tools' own
    (:func:`folai_models.synth.sao.create_base_model`); the ``prompt``
    conditioner is a :class:`T5TextConditioner` built from ``t5_config``, so
    its weights sit at ``conditioner.conditioners.prompt.encoder.*``.
    Cross-attention takes the prompt, then the seconds tokens, as published.
    """
    model = sao.create_base_model(config)
    text = [c for c in config["model"]["conditioning"]["configs"] if c["type"] == "t5"]
    if [c["id"] for c in text] != [PROMPT_ID]:
        raise ValueError(f"expected one T5 conditioner with id {PROMPT_ID!r}, got {[c['id'] for c in text]}")
    cond_dim = config["model"]["conditioning"]["cond_dim"]
    max_length = text[0]["config"].get("max_length", 128)
    model.conditioner.conditioners[PROMPT_ID] = T5TextConditioner(create_t5_encoder(t5_config), tokenizer, cond_dim,
                                                                  max_length)
    model.cross_attn_cond_ids = list(config["model"]["diffusion"]["cross_attention_cond_ids"])
    return model.eval().requires_grad_(False)


def text_encoder_prefix() -> str:
    return f"conditioner.conditioners.{PROMPT_ID}.encoder."


def load_sao_text_weights(model, sao_state: dict[str, torch.Tensor], t5_state: dict[str, torch.Tensor], *,
                          assign: bool = False) -> None:
    """SAO's ``model.safetensors`` and t5-base's ``model.safetensors`` into ``model``, strictly (both at once)."""
    prefix = text_encoder_prefix()
    state = {**sao_state, **{prefix + k: v for k, v in encoder_state_dict(t5_state).items()}}
    model.load_state_dict(state, strict=True, assign=assign)
    if assign:  # assign replaces the tied embedding's tensor: tie it again
        encoder = model.conditioner.conditioners[PROMPT_ID].encoder
        encoder.encoder.embed_tokens.weight = encoder.shared.weight
    model.requires_grad_(False)


def check_init_noise_level(level: float, sigma_min: float = SIGMA_MIN) -> float:
    """``level``, when it is 0 (the render's round trip) or above the sampler's lowest noise level."""
    level = float(level)
    if not (level == 0.0 or level > sigma_min):  # NaN fails too
        raise ValueError(f"init noise level must be 0 (the render, through the VAE) or above sigma_min "
                         f"{sigma_min} (the sampler's last step), got {level!r}")
    return level


def model_dtype(model) -> torch.dtype:
    return next(model.model.parameters()).dtype


def regenerate(model, init_audio: torch.Tensor, prompts: Sequence[str], *, seeds: Sequence[int],
               init_noise_level: float = INIT_NOISE_LEVEL, steps: int = STEPS, cfg_scale: float = CFG_SCALE,
               sampler_type: str = SAMPLER_TYPE, sigma_min: float = SIGMA_MIN, seconds_start: float = 0.0,
               seconds_total: float | None = None, device: str | torch.device = "cpu") -> np.ndarray:
    """Regenerate a batch of audio ``[batch, channels, n]`` at the model's rate; returns the same shape.

    Parameters
    ----------
    model
        :func:`create_sao_text_model`'s model, on ``device``.
    init_audio : tensor [batch, channels, n]
        The audio to start from (the envelope-timed render).
    prompts : one text per item
    seeds : one per item
        Seed of the item's noise (the SDE samplers' own noise follows ``seeds[0]``).
    init_noise_level : float
        Noise standard deviation added to the input's latent; 0: no sampling.
    steps, cfg_scale, sampler_type, sigma_min
        As stable-audio-tools' ``sample_k``.
    seconds_start, seconds_total : float
        SAO's timing conditions (default: 0 and the input's duration).
    """
    from stable_audio_tools.inference.sampling import sample_k

    init_noise_level = check_init_noise_level(init_noise_level, sigma_min)
    if sampler_type not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler_type!r}; choose one of {', '.join(SAMPLERS)}")
    batch, channels, n = init_audio.shape
    if len(prompts) != batch or len(seeds) != batch:
        raise ValueError(f"{batch} inputs need {batch} prompts and seeds, got {len(prompts)} and {len(seeds)}")
    device, dtype = torch.device(device), model_dtype(model)
    ratio = sao.downsampling_ratio(model)
    padded = torch.zeros(batch, channels, latent_length(n, ratio) * ratio)  # beyond the input: silence
    padded[..., :n] = init_audio
    with torch.no_grad():
        # the posterior mean: the input itself, not one draw around it (the sampler adds its own noise)
        latents = encode_deterministic(model.pretransform, padded.to(device, dtype)).float()
        if init_noise_level > 0:
            total = n / model.sample_rate if seconds_total is None else seconds_total
            metadata = [{PROMPT_ID: p, "seconds_start": float(seconds_start), "seconds_total": float(total)}
                        for p in prompts]
            cond = model.get_conditioning_inputs(model.conditioner(metadata, device))
            noise = torch.cat([torch.randn((1, *latents.shape[1:]), generator=torch.Generator().manual_seed(int(s)))
                               for s in seeds]).to(device)
            torch.manual_seed(int(seeds[0]))  # the SDE samplers draw their own noise
            latents = sample_k(model.model, noise, latents, steps=steps, sampler_type=sampler_type,
                               sigma_min=sigma_min, sigma_max=init_noise_level, rho=1.0, device=device,
                               cfg_scale=cfg_scale, batch_cfg=True, **cond)
        audio = model.pretransform.decode(latents.to(dtype))
    return audio[..., :n].float().cpu().numpy()


def output_envelope(audio: np.ndarray, sample_rate: int, n_frames: int, frame_rate: float) -> np.ndarray:
    """RMS envelope of ``[channels, n]`` audio as the pipeline measures it (16 kHz mono), on ``n_frames`` frames."""
    import soxr

    from folai_models.envelope import envelope_frame_rate, rms_envelope
    from folai_models.rates import ENVELOPE_SAMPLE_RATE

    mono = soxr.resample(np.asarray(audio, np.float32).mean(axis=0), sample_rate, ENVELOPE_SAMPLE_RATE)
    if mono.size < 2:
        return np.zeros(n_frames, np.float32)
    env = rms_envelope(mono)
    own_rate = envelope_frame_rate()
    if math.isclose(own_rate, frame_rate) and abs(len(env) - n_frames) <= 1:
        return np.pad(env, (0, max(0, n_frames - len(env))))[:n_frames]
    return np.interp(np.arange(n_frames) / frame_rate, np.arange(len(env)) / own_rate, env).astype(np.float32)


def timing_scores(requested: np.ndarray, audio: np.ndarray, sample_rate: int, frame_rate: float) -> dict:
    """How well audio follows the requested envelope: E-L1, correlation, onset precision / recall / F1."""
    from folai_models.metrics import envelope_scores

    requested = np.asarray(requested, np.float32)
    scores = envelope_scores(requested, output_envelope(audio, sample_rate, len(requested), frame_rate), frame_rate)
    return {k: round(float(scores[k]), 5) if np.isfinite(scores[k]) else None for k in TIMING_KEYS}


def timing_rank(scores: dict) -> tuple[float, float, float]:
    """Sort key of a candidate: onset F1 first, then envelope correlation, then the smaller E-L1."""
    def value(key, worst):
        v = scores.get(key)
        return worst if v is None else v
    return value("onset_f1", 0.0), value("correlation", -1.0), -value("e_l1", math.inf)


def windowed_regenerator(model, init_audio: Callable[[int, int], np.ndarray], spans: Sequence[tuple[int, int]],
                         frame_rate: float, prompt: str, *, seed: int = 0, candidates: int = 1,
                         records: list | None = None, device: str | torch.device = "cpu",
                         **sampler_kwargs) -> Callable[[np.ndarray, int], np.ndarray]:
    """A renderer for :func:`~folai_models.windowed_render.iter_windowed_render`.

    Window ``w`` regenerates ``init_audio(start, end)`` (the render's samples of
    frames ``spans[w]``) as ``candidates`` seeds in one batch
    (``seed + w * candidates + k``) and keeps the best-timed
    (:func:`timing_rank`). ``records`` gets one dict per window: its span, the
    chosen seed and every candidate's :func:`timing_scores`.
    """
    if candidates < 1:
        raise ValueError(f"candidates must be at least 1, got {candidates}")
    rate = model.sample_rate

    def render(env_slice: np.ndarray, window: int) -> np.ndarray:
        lo, hi = spans[window]
        start, end = frame_to_sample(lo, frame_rate, rate), frame_to_sample(hi, frame_rate, rate)
        source = torch.from_numpy(np.ascontiguousarray(init_audio(start, end), np.float32))
        seeds = [seed + window * candidates + k for k in range(candidates)]
        audio = regenerate(model, source[None].expand(candidates, -1, -1), [prompt or ""] * candidates,
                           seeds=seeds, device=device, **sampler_kwargs)
        scores = [timing_scores(env_slice, a, rate, frame_rate) for a in audio]
        best = max(range(candidates), key=lambda k: timing_rank(scores[k]))
        if records is not None:
            records.append({"window": window, "start_s": round(lo / frame_rate, 3), "end_s": round(hi / frame_rate, 3),
                            "seed": seeds[best], "timing": scores[best],
                            **({"candidates": scores} if candidates > 1 else {})})
        return audio[best]

    return render
