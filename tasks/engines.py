"""Engines: what predicts the envelope and what renders audio, chosen by name.

Each engine joins media I/O (data_catalog) to the science (folai_models)
behind one small interface, so a neural engine (``video2rms``, ``folai``)
is one more class in a registry, not a change to the flow.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from data_catalog.media import VideoInfo, iter_frame_windows
from data_catalog.media.frames import FRAME_RATE
from folai_models import envelope as env_math
from folai_models import materials, motion_envelope, preview_synth


class EnvelopeEngine(ABC):
    """Predicts an RMS envelope (125 frames/s, values in [0, 1]) for a video."""

    name: str

    @abstractmethod
    def predict(self, info: VideoInfo) -> tuple[np.ndarray, float]:
        """Return ``(envelope, frame_rate)`` covering the whole video."""

    def describe(self) -> dict:
        return {"name": self.name}


class SynthEngine(ABC):
    """Renders audio that follows an envelope."""

    name: str

    @abstractmethod
    def render(self, envelope: np.ndarray, frame_rate: float, *, n_samples: int, sample_rate: int,
               prompt: str | None, audio_prompt: np.ndarray | None, audio_prompt_rate: int | None,
               seed: int) -> tuple[np.ndarray, dict]:
        """Return ``(audio [2, n_samples] float32, details)``."""

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

    def render(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
               audio_prompt_rate, seed):
        material = None if audio_prompt is not None else materials.material_from_prompt(prompt)
        audio = preview_synth.render_from_envelope(
            envelope, frame_rate, sample_rate=sample_rate, material=material, prompt=prompt,
            audio_prompt=audio_prompt, audio_prompt_sample_rate=audio_prompt_rate, seed=seed,
        )
        audio = fit_length(audio, n_samples)
        source = "audio prompt" if audio_prompt is not None else f"procedural material '{material}'"
        return audio, {"material": material, "source": source}


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Trim or zero-pad ``[channels, n]`` audio to exactly ``n_samples``."""
    if audio.shape[1] >= n_samples:
        return audio[:, :n_samples]
    return np.pad(audio, ((0, 0), (0, n_samples - audio.shape[1])))


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
