"""Tasks that render audio from an envelope."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soxr

from data_catalog.media import write_wav_blocks
from folai_models.envelope_stream import StreamingRmsEnvelope
from folai_models.rates import ENVELOPE_SAMPLE_RATE, OUTPUT_SAMPLE_RATE
from tasks._options import pipeline_task
from tasks.engines import create_synth_engine_from_config


class RenderedEnvelope:
    """Taps audio blocks on their way to disk and measures their RMS envelope (16 kHz mono)."""

    def __init__(self, sample_rate: int = OUTPUT_SAMPLE_RATE):
        self._resampler = soxr.ResampleStream(sample_rate, ENVELOPE_SAMPLE_RATE, 1, dtype="float32")
        self._rms = StreamingRmsEnvelope()

    def tap(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            self._rms.update(self._resampler.resample_chunk(block.mean(axis=0).astype(np.float32)))
            yield block
        self._rms.update(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))

    def envelope(self) -> np.ndarray:
        return self._rms.finish()


@pipeline_task(name="synthesize", tags=("synth",))
def synthesize_task(
    envelope: np.ndarray,
    frame_rate: float,
    duration_s: float,
    engine: str,
    wav_path: Path,
    prompt: str | None = None,
    audio_prompt=None,
    audio_prompt_rate: int | None = None,
    seed: int = 0,
    video_path: str | None = None,
    engine_options: dict | None = None,
) -> dict:
    """Render 44.1 kHz stereo of exactly ``duration_s`` following ``envelope`` into ``wav_path``.

    Audio streams from the engine to the WAV window by window. Returns the
    engine's details plus ``rendered_envelope``, the output's own envelope.
    ``audio_prompt`` is a decoded sample or, for ``foley``, a sound bank
    (``tasks.library_tasks.sound_bank_task``); ``engine_options`` go to the
    engine (``foley``: ``room_tone_db``, ``reverb``).
    """
    n_samples = int(round(duration_s * OUTPUT_SAMPLE_RATE))
    blocks, details = create_synth_engine_from_config(engine, **(engine_options or {})).render_blocks(
        envelope, frame_rate, n_samples=n_samples, sample_rate=OUTPUT_SAMPLE_RATE, prompt=prompt,
        audio_prompt=audio_prompt, audio_prompt_rate=audio_prompt_rate, seed=seed, video_path=video_path,
    )
    meter = RenderedEnvelope()
    write_wav_blocks(wav_path, meter.tap(blocks), OUTPUT_SAMPLE_RATE)
    return {**details, "rendered_envelope": meter.envelope()}
