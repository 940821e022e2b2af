"""Tasks over media: probe, content hash, reference audio."""

from __future__ import annotations

import numpy as np
from data_catalog.hashing import sha256_file
from data_catalog.media import VideoInfo, extract_audio, probe_video
from data_catalog.media.audio import iter_audio_blocks
from folai_models import envelope as env_math
from folai_models.envelope_stream import StreamingRmsEnvelope
from folai_models.rates import ENVELOPE_SAMPLE_RATE, OUTPUT_SAMPLE_RATE
from tasks._options import keyed_by_file, pipeline_task


@pipeline_task(name="probe-video", cache_key_fn=keyed_by_file("path"))
def probe_video_task(path: str) -> VideoInfo:
    """Probe and validate a video (raises MediaError naming the file and reason)."""
    return probe_video(path)


@pipeline_task(name="hash-video", cache_key_fn=keyed_by_file("path"))
def hash_video_task(path: str) -> str:
    """The video's id: sha256 of its bytes."""
    return sha256_file(path)


def audio_envelope(path: str) -> np.ndarray:
    """Unsmoothed RMS envelope (16 kHz mono, 125 frames/s) of any file's audio, streamed.

    Audio whose peak exceeds 1 is scaled down to [-1, 1] (FolAI IV-C), never up.
    """
    stream = StreamingRmsEnvelope()
    for block in iter_audio_blocks(path, sample_rate=ENVELOPE_SAMPLE_RATE, n_channels=1):
        stream.update(block[0])
    # RMS scales with the signal: dividing the envelope by the peak = normalising the audio
    return stream.finish() / max(1.0, stream.peak)


def reference_envelope(path: str, n_frames: int) -> tuple[np.ndarray, float]:
    """RMS envelope of a file's own audio (16 kHz mono, unsmoothed, SPEC metrics).

    Returns ``(envelope, covered_s)``: an envelope of ``n_frames`` frames
    (zero-padded past the end of a stream that ends early) and how many
    seconds of it the audio really covered.
    """
    env = audio_envelope(path)
    covered = len(env) / env_math.envelope_frame_rate()
    out = np.zeros(n_frames, dtype=np.float32)
    out[: min(n_frames, len(env))] = env[:n_frames]
    return out, covered


@pipeline_task(name="reference-envelope",
               cache_key_fn=keyed_by_file("path", "n_frames"))
def reference_envelope_task(path: str, n_frames: int) -> tuple[np.ndarray, float]:
    """Envelope of the video's original audio, to score predictions against."""
    return reference_envelope(path, n_frames)


AUDIO_PROMPT_MAX_S = 60.0  # grains come from the first minute: a long file costs no memory


@pipeline_task(name="load-audio-prompt", cache_key_fn=keyed_by_file("path"))
def load_audio_prompt_task(path: str) -> tuple[np.ndarray, int]:
    """Decode an audio prompt (any file ffmpeg reads, first minute) to mono 44.1 kHz."""
    audio = extract_audio(path, sample_rate=OUTPUT_SAMPLE_RATE, n_channels=1, max_duration_s=AUDIO_PROMPT_MAX_S)
    return audio[0], OUTPUT_SAMPLE_RATE
