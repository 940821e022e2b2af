"""Tasks that write a video's outputs, each file atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from data_catalog.envelope_file import write_envelope
from data_catalog.labels import write_audacity_labels
from data_catalog.media import mux_audio
from data_catalog.output_folders import output_paths  # noqa: F401 (the tasks' callers name files with it)
from folai_models import envelope as env_math
from folai_models.events import envelope_events
from folai_models.rates import ENVELOPE_SAMPLE_RATE
from tasks._options import pipeline_task


@pipeline_task(name="write-envelope-outputs")
def write_envelope_outputs_task(
    paths: dict[str, Path],
    envelope: np.ndarray,
    frame_rate: float,
    *,
    title: str,
    metadata: dict,
    reference: np.ndarray | None = None,
) -> list:
    """Envelope CSV + sidecar, its PNG plot and the Audacity label track; returns the events."""
    from data_catalog.envelope_plot import plot_envelope  # matplotlib: only where a plot is drawn

    write_envelope(
        paths["envelope_csv"], envelope, frame_rate, sample_rate=ENVELOPE_SAMPLE_RATE,
        hop_length=env_math.HOP_LENGTH, frame_length=env_math.FRAME_LENGTH, metadata=metadata,
    )
    events = envelope_events(envelope, frame_rate)
    plot_envelope(paths["envelope_png"], envelope, frame_rate, title=title,
                  onsets_s=[e.start_s for e in events], reference=reference)
    write_audacity_labels(paths["labels"], events, hit_name="step" if metadata.get("events") == "steps" else "hit")
    return events


@pipeline_task(name="mux-video")
def mux_video_task(paths: dict[str, Path], video_path: str) -> dict:
    """The video with the new WAV as its sound (picture copied when MP4 can hold it)."""
    return mux_audio(video_path, paths["wav"], paths["video"])
