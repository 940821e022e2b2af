"""Does the ControlNet control? A tiny FolAI model trained on synthetic hits, scored with and without it.

1. A tiny base model (same classes as SAO: stable-audio-tools' DiT, an exactly
   invertible patched pretransform in place of the VAE so decoded audio
   reflects the latents) learns the synthetic sounds without control (the
   role of SAO's pretraining).
2. The base is frozen; the ControlNet (a copy of its first blocks) learns the
   envelope control with the Stable Audio objective.
3. For new random envelopes, audio is generated with the ControlNet on and
   off (same noise, same seed); the RMS envelope of each output is scored
   against the envelope of the reference audio (E-L1, correlation, onset F1).

Everything runs on CPU in minutes; ``benchmarks/controlnet_control.py`` runs
the long version and prints the figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from folai_models.metrics import envelope_scores
from folai_models.synth import sao
from folai_models.synth.control_signal import control_audio
from folai_models.synth.model import FolAISynth, FolAISynthConfig, create_folai_synth_from_config, load_base_weights
from folai_models.synth.sampling import generate
from folai_models.synth.synthetic import audio_following, random_envelope
from folai_models.synth.train import ControlNetTrainConfig, create_optimizer, diffusion_loss, train_step

CARRIERS = ("noise", "tone")
FRAME_LENGTH, HOP_LENGTH = 256, 64  # at 8 kHz: the 125 frames/s grid of stage 7 (512 / 128 at 16 kHz)


@dataclass
class ExperimentConfig:
    clip_samples: int = 4096  # 0.512 s at 8 kHz -> 128 latent frames
    base_steps: int = 300
    controlnet_steps: int = 300
    batch_size: int = 8
    base_lr: float = 1e-3
    controlnet_lr: float = 5e-4  # tiny model, few steps: faster than FolAI's 1e-4 for SAO
    n_blocks: int = 2
    eval_clips: int = 8
    sampling_steps: int = 50
    cfg_scale: float = 2.0
    seed: int = 0


def _semantic(carriers: list[str]) -> torch.Tensor:
    """A stand-in for the CLAP embedding: which carrier the clip uses (8-d one-hot)."""
    embed = torch.zeros(len(carriers), 8)
    for i, carrier in enumerate(carriers):
        embed[i, CARRIERS.index(carrier)] = 1.0
    return embed


def _envelope_of(audio: np.ndarray) -> np.ndarray:
    from folai_models.envelope import rms_envelope

    return rms_envelope(np.asarray(audio, np.float32).mean(axis=0), frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH)


def make_batch(model: FolAISynth, n: int, n_samples: int, rng: np.random.Generator):
    """Clean latents, conditioning and control latents for ``n`` synthetic clips."""
    rate = model.sample_rate / HOP_LENGTH
    n_frames = n_samples // HOP_LENGTH
    envelopes, audio, carriers = [], [], []
    for _ in range(n):
        carrier = CARRIERS[int(rng.integers(len(CARRIERS)))]
        env = random_envelope(n_frames, rate, rng)
        clip = audio_following(env, rate, n_samples, model.sample_rate, rng, carrier)
        envelopes.append(_envelope_of(clip))  # the control is the envelope of the target, as in training
        audio.append(clip)
        carriers.append(carrier)
    latents = model.encode_audio(torch.from_numpy(np.stack(audio)))
    controls = np.stack([control_audio(e, rate, n_samples) for e in envelopes])
    control = model.encode_control(torch.from_numpy(controls))
    cond = model.conditioning(n, seconds_total=n_samples / model.sample_rate, clap=_semantic(carriers))
    return latents, cond, control


def build_model(config: ExperimentConfig) -> FolAISynth:
    torch.manual_seed(config.seed)
    model_config = FolAISynthConfig(base=sao.load_config("tiny_patched.json"), n_blocks=config.n_blocks,
                                    clap_dim=8, cavp_dim=0)
    return create_folai_synth_from_config(model_config)


def pretrain_base(model: FolAISynth, config: ExperimentConfig, rng: np.random.Generator, log=print) -> list[float]:
    """Train the base DiT without control (stands in for SAO's pretraining); then refresh the ControlNet copy."""
    dit = model.dit
    dit.requires_grad_(True)
    optimizer = torch.optim.AdamW(dit.parameters(), lr=config.base_lr)
    generator = torch.Generator().manual_seed(config.seed)
    losses = []
    for step in range(config.base_steps):
        latents, cond, _ = make_batch(model, config.batch_size, config.clip_samples, rng)
        dit.train()
        optimizer.zero_grad()
        loss = diffusion_loss(model, latents, cond, None, use_controlnet=False, generator=generator)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if log and (step + 1) % 100 == 0:
            log(f"base step {step + 1}: loss {np.mean(losses[-100:]):.4f}")
    load_base_weights(model, model.base.state_dict())  # freezes the base, copies its trained blocks
    return losses


def train_controlnet(model: FolAISynth, config: ExperimentConfig, rng: np.random.Generator, log=print) -> list[float]:
    train_config = ControlNetTrainConfig(learning_rate=config.controlnet_lr, batch_size=config.batch_size,
                                         steps=config.controlnet_steps, bf16=False)
    optimizer = create_optimizer(model.trainable_parameters(), train_config)
    generator = torch.Generator().manual_seed(config.seed + 1)
    losses = []
    for step in range(config.controlnet_steps):
        latents, cond, control = make_batch(model, config.batch_size, config.clip_samples, rng)
        losses.append(train_step(model, optimizer, latents, cond, control, train_config, generator=generator))
        if log and (step + 1) % 100 == 0:
            log(f"controlnet step {step + 1}: loss {np.mean(losses[-100:]):.4f}")
    return losses


def evaluate(model: FolAISynth, config: ExperimentConfig, rng: np.random.Generator) -> dict:
    """Mean scores of generated vs reference envelopes, ControlNet on and off."""
    model.eval()
    rate = model.sample_rate / HOP_LENGTH
    n_frames = config.clip_samples // HOP_LENGTH
    results = {"on": [], "off": []}
    for clip in range(config.eval_clips):
        carrier = CARRIERS[clip % len(CARRIERS)]
        reference = _envelope_of(audio_following(random_envelope(n_frames, rate, rng), rate, config.clip_samples,
                                                 model.sample_rate, rng, carrier))
        for mode in ("on", "off"):
            audio = generate(model, reference, rate, config.clip_samples, clap=_semantic([carrier])[0],
                             seed=config.seed + clip, steps=config.sampling_steps, cfg_scale=config.cfg_scale,
                             use_controlnet=mode == "on")
            results[mode].append(envelope_scores(reference, _envelope_of(audio), rate))
    keys = ("e_l1", "correlation", "onset_f1")
    return {mode: {k: float(np.nanmean([s[k] for s in scores])) for k in keys} for mode, scores in results.items()}


def run_control_experiment(config: ExperimentConfig, log=print) -> dict:
    rng = np.random.default_rng(config.seed)
    model = build_model(config)
    started = time.perf_counter()
    base_losses = pretrain_base(model, config, rng, log)
    base_s = time.perf_counter() - started
    started = time.perf_counter()
    control_losses = train_controlnet(model, config, rng, log)
    control_s = time.perf_counter() - started
    started = time.perf_counter()
    scores = evaluate(model, config, np.random.default_rng(config.seed + 12345))
    return {"scores": scores, "base_final_loss": float(np.mean(base_losses[-50:])),
            "controlnet_first_loss": float(np.mean(control_losses[:50])),
            "controlnet_final_loss": float(np.mean(control_losses[-50:])),
            "seconds": {"base": round(base_s, 1), "controlnet": round(control_s, 1),
                        "evaluation": round(time.perf_counter() - started, 1)}}
