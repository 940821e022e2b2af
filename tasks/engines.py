"""Engines: what predicts the envelope and what renders audio, chosen by name.

Each engine joins media I/O (data_catalog) to the science (folai_models)
behind one small interface, so a neural engine (``video2rms``, ``folai``)
is one more class in a registry, not a change to the flow.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

import numpy as np

from data_catalog.media import VideoInfo, iter_frame_windows
from data_catalog.media.frames import FRAME_RATE
from folai_models import envelope as env_math
from folai_models import materials, motion_envelope, preview_synth
from folai_models.windowed_render import iter_windowed_render


class EnvelopeEngine(ABC):
    """Predicts an RMS envelope (125 frames/s, values in [0, 1]) for a video."""

    name: str

    @abstractmethod
    def predict(self, info: VideoInfo) -> tuple[np.ndarray, float]:
        """Return ``(envelope, frame_rate)`` covering the whole video."""

    def describe(self) -> dict:
        return {"name": self.name}


class SynthEngine(ABC):
    """Renders audio that follows an envelope, window by window (any length, flat memory)."""

    name: str

    @abstractmethod
    def render_blocks(self, envelope: np.ndarray, frame_rate: float, *, n_samples: int, sample_rate: int,
                      prompt: str | None, audio_prompt: np.ndarray | None, audio_prompt_rate: int | None,
                      seed: int) -> tuple[Iterator[np.ndarray], dict]:
        """Return ``(blocks, details)``: consecutive ``[2, n]`` float32 blocks adding up to ``n_samples``."""

    def describe(self) -> dict:
        return {"name": self.name}


class PreviewEnvelopeEngine(EnvelopeEngine):
    """Weight-free envelope from visible motion (dense optical flow), CPU only."""

    name = "preview"

    def predict(self, info: VideoInfo) -> tuple[np.ndarray, float]:
        windows = iter_frame_windows(info, frame_rate=FRAME_RATE)
        envelope = motion_envelope.estimate_envelope(windows, duration_s=info.duration_s)
        return np.asarray(envelope, dtype=np.float32), env_math.envelope_frame_rate()


class PreviewSynthEngine(SynthEngine):
    """Weight-free synthesis: procedural materials or grains of the user's sample."""

    name = "preview"

    def render_blocks(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
                      audio_prompt_rate, seed):
        material = None if audio_prompt is not None else materials.material_from_prompt(prompt)

        def render(env_slice: np.ndarray, window: int) -> np.ndarray:
            return preview_synth.render_from_envelope(
                env_slice, frame_rate, sample_rate=sample_rate, material=material, prompt=prompt,
                audio_prompt=audio_prompt, audio_prompt_sample_rate=audio_prompt_rate, seed=seed + window,
            )

        blocks = iter_windowed_render(render, envelope, frame_rate, sample_rate)
        source = "audio prompt" if audio_prompt is not None else f"procedural material '{material}'"
        return fit_length(blocks, n_samples), {"material": material, "source": source}


def fit_length(blocks: Iterable[np.ndarray], n_samples: int) -> Iterator[np.ndarray]:
    """Trim or zero-pad a stream of ``[channels, n]`` blocks to exactly ``n_samples`` in all."""
    total, channels = 0, 2
    for block in blocks:
        channels = block.shape[0]
        block = block[:, : max(0, n_samples - total)]
        total += block.shape[1]
        if block.shape[1]:
            yield block
    if total < n_samples:
        yield np.zeros((channels, n_samples - total), np.float32)


ENVELOPE_ENGINES: dict[str, type[EnvelopeEngine]] = {"preview": PreviewEnvelopeEngine}
SYNTH_ENGINES: dict[str, type[SynthEngine]] = {"preview": PreviewSynthEngine}


def _lookup(registry: dict, kind: str, name: str):
    try:
        return registry[name]()
    except KeyError:
        raise ValueError(f"unknown {kind} engine {name!r}; available: {', '.join(sorted(registry))}") from None


def get_envelope_engine(name: str) -> EnvelopeEngine:
    """The envelope engine registered under ``name`` (ValueError lists the choices)."""
    return _lookup(ENVELOPE_ENGINES, "envelope", name)


def get_synth_engine(name: str) -> SynthEngine:
    """The synthesis engine registered under ``name`` (ValueError lists the choices)."""
    return _lookup(SYNTH_ENGINES, "synth", name)
