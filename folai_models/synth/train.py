"""Training the ControlNet with the Stable Audio objective (FolAI V-B; SPEC stage 10).

The loss is stable-audio-tools' v-objective: ``t ~ U(0, 1)``,
``alpha, sigma = cos(t pi/2), sin(t pi/2)``, noisy latent
``alpha z + sigma eps``, target ``alpha eps - sigma z``, mean squared error.
Only the ControlNet and the semantic projections receive updates.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from torch.nn import functional as F

from folai_models.synth.model import Conditioning, FolAISynth

LEARNING_RATE = 1e-4  # FolAI V-B: "a fixed learning rate of 1e-4 and AdamW"
ADAM_BETAS = (0.9, 0.999)  # FolAI V-B: AdamW "with parameters set as it is done in Stable Audio Open" (its config)
WEIGHT_DECAY = 1e-3  # Stable Audio Open model_config.json: AdamW weight_decay
BATCH_SIZE = 12  # FolAI V-B: batch size 12
TRAIN_STEPS = 20_000  # FolAI V-B: 20k steps
CHUNK_S = 10.0  # FolAI IV-D1: "the length of the audio to be generated is fixed at 10s"


@dataclass
class ControlNetTrainConfig:
    """Training settings (defaults: FolAI's)."""

    learning_rate: float = LEARNING_RATE
    betas: tuple[float, float] = ADAM_BETAS
    weight_decay: float = WEIGHT_DECAY
    batch_size: int = BATCH_SIZE
    steps: int = TRAIN_STEPS
    chunk_s: float = CHUNK_S
    bf16: bool = True  # autocast to bfloat16 on GPU (ignored on CPU)
    gradient_checkpointing: bool = False
    checkpoint_every: int = 1000
    sample_every: int = 2000
    sample_steps: int = 50  # sampling steps of the demo clips recorded while training
    seed: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ControlNetTrainConfig":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown train-controlnet settings: {sorted(unknown)}")
        data = dict(data)
        if "betas" in data:
            data["betas"] = tuple(data["betas"])
        return cls(**data)


def create_optimizer(parameters, config: ControlNetTrainConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(list(parameters), lr=config.learning_rate, betas=tuple(config.betas),
                             weight_decay=config.weight_decay)


def drop_semantic(cond: Conditioning, probability: float, generator: torch.Generator | None = None) -> Conditioning:
    """Zero each item's semantic tokens with ``probability`` (classifier-free guidance training)."""
    if cond.semantic is None or probability <= 0:
        return cond
    keep = torch.rand(cond.semantic.shape[0], 1, 1, generator=generator) >= probability
    return Conditioning(cond.semantic * keep.to(cond.semantic), cond.timing, cond.global_embed, cond.has_semantic)


def diffusion_loss(model: FolAISynth, latents: torch.Tensor, cond: Conditioning, control: torch.Tensor | None, *,
                   use_controlnet: bool = True, gradient_checkpointing: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The v-objective MSE on a batch of clean latents."""
    batch = latents.shape[0]
    t = torch.rand(batch, generator=generator).to(latents.device)
    noise = torch.randn(latents.shape, generator=generator).to(latents)
    alpha = torch.cos(t * math.pi / 2)[:, None, None]
    sigma = torch.sin(t * math.pi / 2)[:, None, None]
    noisy = latents * alpha + noise * sigma
    target = noise * alpha - latents * sigma
    v = model(noisy, t, cond, control, use_controlnet=use_controlnet, gradient_checkpointing=gradient_checkpointing)
    return F.mse_loss(v.float(), target.float())


def autocast_context(device: torch.device | str, bf16: bool):
    """bfloat16 autocast on CUDA when asked for; nothing elsewhere (CPU training stays fp32)."""
    device = torch.device(device)
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def train_step(model: FolAISynth, optimizer: torch.optim.Optimizer, latents: torch.Tensor, cond: Conditioning,
               control: torch.Tensor, config: ControlNetTrainConfig, *, generator: torch.Generator | None = None) -> float:
    """One optimizer step on the ControlNet (and semantic projections); returns the loss."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    cond = drop_semantic(cond, model.config.cfg_dropout_prob, generator)
    with autocast_context(latents.device, config.bf16):
        loss = diffusion_loss(model, latents, cond, control, gradient_checkpointing=config.gradient_checkpointing,
                              generator=generator)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
