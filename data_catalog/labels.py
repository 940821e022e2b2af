"""Audacity label tracks: ``start<TAB>end<TAB>label`` per line, times in seconds."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from data_catalog.atomic import write_text_atomic

HIT_MAX_S = 0.3  # events shorter than this read as hits (a hit rings 0.1-0.3 s), longer ones as sustained


def audacity_labels(events: Iterable, hit_name: str = "hit") -> str:
    """Text of an Audacity label track for envelope events (``start_s``, ``end_s``, ``peak_rms``).

    ``hit_name``: what short events are called (``step`` when the envelope holds footsteps).
    """
    lines = []
    for number, event in enumerate(events, start=1):
        kind = hit_name if event.end_s - event.start_s < HIT_MAX_S else "sustain"
        lines.append(f"{event.start_s:.6f}\t{event.end_s:.6f}\t{kind} {number} (rms {event.peak_rms:.3f})")
    return "\n".join(lines) + ("\n" if lines else "")


def write_audacity_labels(path: str | os.PathLike, events: Iterable, hit_name: str = "hit") -> Path:
    """Write an Audacity label track atomically (import: File > Import > Labels)."""
    return write_text_atomic(path, audacity_labels(events, hit_name))
