"""Training data for the envelope ControlNet: 44.1 kHz stereo chunks of a preprocessed dataset.

Chunks come from the catalog's ``chunks`` table (the ``preprocess`` flow wrote
it); their audio is decoded from the source videos at the synthesis rate,
and each channel's envelope is measured exactly as stage 7 measures the
targets (16 kHz, frame 512, hop 128, unsmoothed): the ControlNet learns from
the same kind of envelope it is given at inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_catalog.dataset_tables import read_chunks, read_videos
from data_catalog.errors import SonorizeError, SonorizeInputError
from data_catalog.media.audio import extract_audio
from folai_models.rates import CAVP_FRAME_RATE, OUTPUT_SAMPLE_RATE
from folai_models.synth.control_signal import chunk_envelope

SYNTH_CHANNELS = 2  # FolAI IV-D: stereo targets


@dataclass
class SynthChunk:
    """One training clip: stereo audio (int16, to keep a dataset in memory) and its per-channel envelope."""

    item_id: str
    split: str
    start_s: float
    prompt: str | None
    audio: np.ndarray  # int16 [2, n_samples]
    envelope: np.ndarray  # float32 [2, n_frames] at envelope_frame_rate()
    clap: np.ndarray | None = None  # float32 [512]: LAION-CLAP embedding of the audio (FolAI's training condition)
    cavp: np.ndarray | None = None  # float32 [chunk_s * 4, 512]: CAVP embeddings of the chunk's frames at 4 fps
    video_path: str | None = None

    def audio_float(self) -> np.ndarray:
        return self.audio.astype(np.float32) / 32767.0


def load_synth_chunks(dataset: str, split: str, chunk_s: float, *, sample_rate: int = OUTPUT_SAMPLE_RATE,
                      max_chunks: int | None = None, log=None, required: bool = True) -> list[SynthChunk]:
    """Decode the ``split`` chunks of ``dataset`` to ``chunk_s``-second stereo clips with envelopes.

    Clips shorter than ``chunk_s`` (the audio ends) are zero-padded; a video
    whose audio cannot be decoded is skipped with a logged reason. With
    ``required`` an empty split is an error, else an empty list.
    """
    chunks = read_chunks(dataset=dataset, split=split).to_pylist()
    if not chunks and not required:
        return []
    if not chunks:
        raise SonorizeInputError(None, f"no {split!r} chunks of dataset {dataset!r} in the catalog: "
                                       f"run `sonorize preprocess {dataset} ...` first")
    videos = read_videos(dataset=dataset, status="ok").to_pylist()
    paths = {row["item_id"]: row["video_path"] for row in videos}
    # the separated audio where preprocess cleaned the targets (SPEC stage 12), else the video's own
    audio_paths = {row["item_id"]: row.get("target_audio_path") or row["video_path"] for row in videos}
    n_samples = int(round(chunk_s * sample_rate))
    out = []
    for row in chunks[:max_chunks] if max_chunks else chunks:
        path = paths.get(row["item_id"])
        if path is None:
            continue
        try:
            audio = extract_audio(audio_paths[row["item_id"]], sample_rate=sample_rate, n_channels=SYNTH_CHANNELS,
                                  start_s=float(row["start_s"]), max_duration_s=chunk_s)
        except SonorizeError as error:
            if log:
                log(f"skipping {row['item_id']} chunk {row['chunk_index']}: {error}")
            continue
        audio = np.pad(audio[:, :n_samples], ((0, 0), (0, max(0, n_samples - audio.shape[1]))))
        out.append(SynthChunk(row["item_id"], row["split"], float(row["start_s"]), row.get("prompt"),
                              np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16), chunk_envelope(audio, sample_rate),
                              video_path=path))
    return out


def add_clap_embeddings(chunks: list[SynthChunk], embedder, sample_rate: int = OUTPUT_SAMPLE_RATE,
                        batch_size: int = 16) -> None:
    """Fill each chunk's ``clap`` with the CLAP audio embedding of its own audio (frozen encoder, once)."""
    for start in range(0, len(chunks), batch_size):
        batch = chunks[start:start + batch_size]
        embeddings = embedder.embed_audio(np.stack([c.audio_float() for c in batch]), sample_rate).numpy()
        for chunk, embedding in zip(batch, embeddings):
            chunk.clap = embedding


def add_cavp_embeddings(chunks: list[SynthChunk], encoder, chunk_s: float, *,
                        device: str = "cpu") -> None:
    """Fill each chunk's ``cavp`` with its video's CAVP embeddings over the chunk (each video encoded once)."""
    from tasks.engines.weights import video_cavp_embeddings

    per_video: dict[str, np.ndarray] = {}
    n_frames = int(round(chunk_s * CAVP_FRAME_RATE))
    for chunk in chunks:
        if chunk.video_path not in per_video:
            per_video[chunk.video_path] = video_cavp_embeddings(chunk.video_path, encoder, device).numpy()
        frames = per_video[chunk.video_path]
        start = int(round(chunk.start_s * CAVP_FRAME_RATE))
        part = frames[start:start + n_frames]
        # a chunk running past the video's end: repeat its last frame's embedding
        if len(part) < n_frames:
            last = part[-1:] if len(part) else np.zeros((1, frames.shape[1]), np.float32)
            part = np.concatenate([part, np.repeat(last, n_frames - len(part), axis=0)])
        chunk.cavp = part.astype(np.float32)


__all__ = ["SynthChunk", "add_cavp_embeddings", "add_clap_embeddings", "load_synth_chunks"]
