"""The two engine interfaces: envelope engines (video -> envelope) and synth engines (envelope -> audio).

Each engine joins media I/O (data_catalog) to the science (folai_models)
behind one of these small interfaces, so a new engine is one module that
registers its class (:mod:`tasks.engines.registry`), not a change to the flow.
Engines never run Prefect tasks: what a flow should compute first (frame
features) an engine declares, and the flow passes it in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

import numpy as np

from data_catalog.media import VideoInfo


class EnvelopeEngine(ABC):
    """Predicts an RMS envelope (125 frames/s, values in [0, 1]) for a video.

    Attributes
    ----------
    name : registry key.
    needs_features : :meth:`predict` reads frame features; a flow computes them first (the cached
        ``frame-features`` task, for :meth:`video_stage`) and passes them as ``features``.
    details : what the last :meth:`predict` decided (``auto``'s choice and reason, the steps' source),
        for the run record; empty for engines that decide nothing.
    """

    name: str = ""
    needs_features: bool = False
    details: dict = {}

    @abstractmethod
    def predict(self, info: VideoInfo, *, video_sha256: str | None = None,
                features: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """Return ``(envelope, frame_rate)`` covering the whole video.

        ``video_sha256``: its id, if known; ``features``: its frame features from
        :meth:`video_stage` (engines that need them compute them when None).
        """

    def video_stage(self):
        """The :class:`tasks.feature_tasks.VideoStage` whose features :meth:`predict` reads (None: none)."""
        return None

    def describe(self) -> dict:
        return {"name": self.name}


class SynthEngine(ABC):
    """Renders audio that follows an envelope, window by window (any length, flat memory)."""

    name: str = ""

    @abstractmethod
    def render_blocks(self, envelope: np.ndarray, frame_rate: float, *, n_samples: int, sample_rate: int,
                      prompt: str | None, audio_prompt: np.ndarray | None, audio_prompt_rate: int | None,
                      seed: int, video_path: str | None = None) -> tuple[Iterator[np.ndarray], dict]:
        """Return ``(blocks, details)``: consecutive ``[2, n]`` float32 blocks adding up to ``n_samples``.

        ``video_path``: the video the sound is for, for engines conditioned on its frames.
        """

    def describe(self) -> dict:
        return {"name": self.name}


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
