"""Training the envelope ControlNet: random batches of chunks, steps, validation and demo clips.

:func:`fit` runs the Stable Audio objective (:mod:`.train`) over random
batches of training chunks; every ``config.checkpoint_every`` steps (and at
the last) it measures the validation loss with fixed noise and times, and
every ``config.sample_every`` steps (and at the last) it generates a demo clip
from the first validation chunk's envelope. What to keep (checkpoints,
records, the clips) is the caller's: ``on_validation`` and ``on_sample``.

A chunk is any object with ``audio_float()`` (float32 ``[2, n]`` at the
model's rate), ``envelope`` (``[2, n_frames]`` at :func:`envelope_frame_rate`),
``clap`` (``[512]`` or None) and ``cavp`` (``[frames, 512]`` or None), e.g.
the training data loader's ``SynthChunk``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from folai_models.envelope import envelope_frame_rate
from folai_models.metrics import envelope_scores
from folai_models.synth.control_signal import chunk_envelope, control_audio
from folai_models.synth.model import Conditioning, FolAISynth
from folai_models.synth.sampling import generate
from folai_models.synth.train import ControlNetTrainConfig, create_optimizer, diffusion_loss, train_step

__all__ = ["VALIDATION_SEED", "Validation", "Sample", "batch_tensors", "validation_loss", "demo_clip", "fit"]

VALIDATION_SEED = 1234  # fixed noise and times: validation losses of different steps compare


@dataclass(frozen=True)
class Validation:
    """One validation of :func:`fit`: ``row`` (step, mean training loss since the last one, validation
    loss, seconds since the start), the best validation loss so far and whether this one is it."""

    step: int
    row: dict
    best: float
    improved: bool


@dataclass(frozen=True)
class Sample:
    """A demo clip of :func:`fit`: audio ``[2, n]`` generated from the reference chunk's envelope, and the
    envelope scores (:func:`~folai_models.metrics.envelope_scores`) of its channel-mean envelope."""

    step: int
    audio: np.ndarray
    scores: dict


def batch_tensors(model: FolAISynth, chunks: Sequence, device) -> tuple[torch.Tensor, torch.Tensor, Conditioning]:
    """Clean latents, control latents and conditioning of a list of chunks."""
    audio = np.stack([c.audio_float() for c in chunks])
    n = audio.shape[-1]
    controls = np.stack([control_audio(c.envelope, envelope_frame_rate(), n) for c in chunks])
    latents = model.encode_audio(torch.from_numpy(audio).to(device))
    control = model.encode_control(torch.from_numpy(controls).to(device))
    clap = None
    if all(c.clap is not None for c in chunks):
        clap = torch.from_numpy(np.stack([c.clap for c in chunks])).to(device)
    cavp = None
    if all(c.cavp is not None for c in chunks):
        cavp = torch.from_numpy(np.stack([c.cavp for c in chunks])).to(device)
    cond = model.conditioning(len(chunks), seconds_start=0.0, seconds_total=n / model.sample_rate, clap=clap,
                              cavp=cavp, device=device)
    return latents, control, cond


def validation_loss(model: FolAISynth, chunks: Sequence, device, batch_size: int) -> float:
    """Mean v-objective loss over ``chunks`` with :data:`VALIDATION_SEED` noise and times (eval mode)."""
    generator = torch.Generator().manual_seed(VALIDATION_SEED)
    losses = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(chunks), batch_size):
            latents, control, cond = batch_tensors(model, chunks[start:start + batch_size], device)
            losses.append(float(diffusion_loss(model, latents, cond, control, generator=generator)))
    return float(np.mean(losses))


def demo_clip(model: FolAISynth, reference, config: ControlNetTrainConfig, device, step: int = 0) -> Sample:
    """Audio generated from ``reference``'s envelope (and its CLAP / CAVP conditions), scored against it."""
    clap = None if reference.clap is None else torch.from_numpy(reference.clap)
    cavp = None if reference.cavp is None else torch.from_numpy(reference.cavp)
    audio = generate(model, reference.envelope, envelope_frame_rate(), reference.audio_float().shape[1], clap=clap,
                     cavp=cavp, steps=config.sample_steps, seed=config.seed, device=device)
    scores = envelope_scores(reference.envelope.mean(axis=0), chunk_envelope(audio, model.sample_rate).mean(axis=0),
                             envelope_frame_rate())
    return Sample(step, audio, scores)


def fit(model: FolAISynth, train: Sequence, val: Sequence, config: ControlNetTrainConfig, *,
        optimizer: torch.optim.Optimizer | None = None, device: str | torch.device = "cpu", start_step: int = 0,
        best: float | None = None, on_validation: Callable[[Validation], None] | None = None,
        on_sample: Callable[[Sample], None] | None = None) -> float | None:
    """Train the ControlNet from ``start_step`` to ``config.steps``; returns the best validation loss.

    Parameters
    ----------
    model : FolAISynth (its base frozen); ``train`` / ``val``: chunks (see the module docstring).
    optimizer : default :func:`~.train.create_optimizer` over ``model.trainable_parameters()``
        (pass one to resume its state).
    start_step, best : where a resumed run continues, and its best validation loss so far. Batches and
        noise are drawn from ``config.seed + start_step``: a resumed run draws fresh, reproducible ones.
    on_validation : called with each :class:`Validation` (to checkpoint, record, report).
    on_sample : called with each demo clip (:class:`Sample`, from ``val[0]``'s envelope).
    """
    optimizer = optimizer or create_optimizer(model.trainable_parameters(), config)
    generator = torch.Generator().manual_seed(config.seed + start_step)
    rng = np.random.default_rng(config.seed + start_step)
    window, started = [], time.perf_counter()
    for step in range(start_step + 1, config.steps + 1):
        batch = [train[i] for i in rng.integers(0, len(train), config.batch_size)]
        latents, control, cond = batch_tensors(model, batch, device)
        window.append(train_step(model, optimizer, latents, cond, control, config, generator=generator))
        if step % config.checkpoint_every == 0 or step == config.steps:
            val_loss = validation_loss(model, val, device, config.batch_size)
            improved = best is None or val_loss < best
            best = min(val_loss, best) if best is not None else val_loss
            row = {"step": step, "train_loss": round(float(np.mean(window)), 6), "val_loss": round(val_loss, 6),
                   "seconds": round(time.perf_counter() - started, 1)}
            window = []
            if on_validation is not None:
                on_validation(Validation(step, row, best, improved))
        if (step % config.sample_every == 0 or step == config.steps) and on_sample is not None:
            on_sample(demo_clip(model, val[0], config, device, step))
    return best
