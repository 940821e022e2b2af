"""A PNG plot of an envelope, with its events and (optionally) a reference."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: workers and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from data_catalog.atomic import atomic_path  # noqa: E402

FIGURE_SIZE_IN = (12.0, 3.2)
DPI = 110
MAX_POINTS = 20000  # decimate very long envelopes so the PNG stays quick to draw


def plot_envelope(
    png_path: str | os.PathLike,
    envelope: np.ndarray,
    frame_rate: float,
    *,
    title: str = "",
    onsets_s: Sequence[float] = (),
    reference: np.ndarray | None = None,
    reference_label: str = "reference (original audio)",
) -> Path:
    """Draw the envelope against time and write it as a PNG, atomically."""
    envelope = np.asarray(envelope, dtype=np.float32)
    step = max(1, len(envelope) // MAX_POINTS)
    times = (np.arange(len(envelope)) + 0.5) / frame_rate
    fig, ax = plt.subplots(figsize=FIGURE_SIZE_IN, dpi=DPI)
    try:
        if reference is not None and len(reference):
            rt = (np.arange(len(reference)) + 0.5) / frame_rate
            ax.plot(rt[::step], np.asarray(reference)[::step], color="0.6", lw=0.8, label=reference_label)
        ax.fill_between(times[::step], envelope[::step], color="tab:blue", alpha=0.25, lw=0)
        ax.plot(times[::step], envelope[::step], color="tab:blue", lw=0.9, label="envelope (RMS)")
        if len(onsets_s):  # one collection, not an artist per onset: an hour has thousands
            ax.vlines(np.asarray(onsets_s, dtype=np.float64), 0, 1, transform=ax.get_xaxis_transform(),
                      color="tab:red", lw=0.5, alpha=0.6)
        ax.set_xlim(0, max(times[-1] if len(times) else 1.0, 1e-3))
        ax.set_ylim(0, max(0.05, float(envelope.max(initial=0)) * 1.1,
                           float(np.max(reference, initial=0)) * 1.1 if reference is not None else 0))
        ax.set_xlabel("time (s)")
        ax.set_ylabel("RMS")
        ax.set_title(title or "envelope", fontsize=10)
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return Path(png_path)
