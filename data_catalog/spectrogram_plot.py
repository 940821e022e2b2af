"""A PNG of two spectrograms, one above the other: a recording before and after source separation."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: workers and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from data_catalog.atomic import atomic_path  # noqa: E402

FIGURE_SIZE_IN = (12.0, 6.0)
DPI = 110
DYNAMIC_RANGE_DB = 90.0  # colours span the loudest bin down to this much below it (both panels alike)


def plot_before_after(png_path: str | os.PathLike, before_db: np.ndarray, after_db: np.ndarray, column_s: float,
                      sample_rate: int, *, title: str = "", labels: tuple[str, str] = ("before", "after")) -> Path:
    """Draw ``before_db`` and ``after_db`` (``[bins, columns]``, dB) on one colour scale; write a PNG atomically."""
    top = float(max(np.max(before_db, initial=-np.inf), np.max(after_db, initial=-np.inf)))
    top = top if np.isfinite(top) else 0.0
    fig, axes = plt.subplots(2, 1, figsize=FIGURE_SIZE_IN, dpi=DPI, sharex=True, sharey=True)
    try:
        for ax, spec, label in zip(axes, (before_db, after_db), labels):
            extent = (0.0, max(spec.shape[1] * column_s, 1e-3), 0.0, sample_rate / 2000.0)
            image = ax.imshow(spec, origin="lower", aspect="auto", extent=extent, cmap="magma",
                              vmin=top - DYNAMIC_RANGE_DB, vmax=top, interpolation="nearest")
            ax.set_ylabel("kHz")
            ax.set_title(label, fontsize=9, loc="left")
        axes[-1].set_xlabel("time (s)")
        fig.colorbar(image, ax=axes, label="dB", shrink=0.9)
        fig.suptitle(title or "spectrogram", fontsize=10)
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return Path(png_path)


__all__ = ["plot_before_after"]
