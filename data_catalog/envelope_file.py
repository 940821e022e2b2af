"""The envelope file: a CSV a spreadsheet opens, plus a small JSON sidecar.

``NAME.envelope.csv`` has a header ``time_s,rms`` and one row per envelope
frame (time of the frame centre in seconds, RMS amplitude in [0, 1]).
``NAME.envelope.json`` beside it records the frame grid (sample rate, hop,
frame rate, number of frames) and where the envelope came from. Users edit
the CSV; reading it back validates every row and names the line at fault.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_catalog.atomic import atomic_path, write_json_atomic
from data_catalog.errors import EnvelopeFileError
from data_catalog.file_kinds import not_a_regular_file

FORMAT_NAME = "sonorize-envelope"
FORMAT_VERSION = 1
TIME_COLUMN, RMS_COLUMN = "time_s", "rms"
MAX_RMS = 1.0  # RMS of audio normalised to [-1, 1] cannot exceed 1
DURATION_TOLERANCE_FRAMES = 2  # slack when comparing an envelope's span with a video
CSV_BLOCK_ROWS = 10000  # rows formatted at a time when writing
SHOWN_CELL_CHARS = 40  # an error message quotes at most this much of a cell
GRID_TOLERANCE = 0.25  # a time may move a quarter frame off the grid (rounding in spreadsheets)


@dataclass
class EnvelopeFile:
    """An envelope on a regular frame grid and its metadata."""

    envelope: np.ndarray
    frame_rate: float
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.envelope) / self.frame_rate


def sidecar_path(csv_path: str | os.PathLike) -> Path:
    """``x.envelope.csv`` -> ``x.envelope.json``."""
    return Path(csv_path).with_suffix(".json")


def write_envelope(
    csv_path: str | os.PathLike,
    envelope: np.ndarray,
    frame_rate: float,
    *,
    sample_rate: int,
    hop_length: int,
    frame_length: int,
    metadata: dict | None = None,
) -> tuple[Path, Path]:
    """Write the CSV and its sidecar atomically; return both paths."""
    envelope = np.asarray(envelope, dtype=np.float64)
    with atomic_path(csv_path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(f"{TIME_COLUMN},{RMS_COLUMN}\n")
        for start in range(0, len(envelope), CSV_BLOCK_ROWS):  # text in blocks: flat memory for any length
            values = envelope[start:start + CSV_BLOCK_ROWS]
            times = (np.arange(start, start + len(values)) + 0.5) / frame_rate
            handle.write("".join(f"{t:.6f},{v:.6f}\n" for t, v in zip(times, values)))
        handle.flush()
        os.fsync(handle.fileno())  # a full disk shows here, before the rename
    csv_path = Path(csv_path)
    side = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "sample_rate": sample_rate,
        "hop_length": hop_length,
        "frame_length": frame_length,
        "frame_rate": frame_rate,
        "n_frames": int(len(envelope)),
        "duration_s": len(envelope) / frame_rate,
        "time_reference": "frame centre: (i + 0.5) / frame_rate",
        **(metadata or {}),
    }
    return csv_path, write_json_atomic(sidecar_path(csv_path), side)


def _read_sidecar(path: Path) -> dict | None:
    side = sidecar_path(path)
    if not side.exists():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeFileError(side, f"sidecar is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise EnvelopeFileError(side, "sidecar must be a JSON object")
    rate = meta.get("frame_rate")
    if not isinstance(rate, (int, float)) or not rate > 0 or not math.isfinite(rate):
        raise EnvelopeFileError(side, f"sidecar frame_rate must be a positive number, got {rate!r}")
    n = meta.get("n_frames")
    if n is not None and (not isinstance(n, int) or n < 1):
        raise EnvelopeFileError(side, f"sidecar n_frames must be a positive integer, got {n!r}")
    return meta


def _shown(cell: str, limit: int = SHOWN_CELL_CHARS) -> str:
    """A cell for an error message: its repr, cut to ``limit`` characters."""
    return repr(cell) if len(cell) <= limit else repr(cell[:limit]) + f"... ({len(cell)} characters)"


def _read_rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """The non-empty rows with their line numbers; a malformed CSV is one line naming where."""
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows, start = [], 1
    try:
        for row in reader:
            if row and any(c.strip() for c in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise EnvelopeFileError(path, f"line {reader.line_num}: not a readable CSV row ({exc})") from None
    for line, row in rows:
        if any("\n" in cell or "\r" in cell for cell in row):  # a quote swallowed the following lines
            raise EnvelopeFileError(path, f"line {line}: a quote (\") opened on this row is never closed")
    return rows


def _parse_rows(path: Path, text: str) -> tuple[np.ndarray, np.ndarray]:
    rows = _read_rows(path, text)
    if not rows:
        raise EnvelopeFileError(path, "file is empty")
    header = [c.strip().lower() for c in rows[0][1]]
    if TIME_COLUMN not in header or RMS_COLUMN not in header:
        raise EnvelopeFileError(
            path, f"line 1: header must name the columns '{TIME_COLUMN}' and '{RMS_COLUMN}', "
                  f"got {_shown(','.join(rows[0][1]))}"
        )
    for name in (TIME_COLUMN, RMS_COLUMN):
        if header.count(name) > 1:
            raise EnvelopeFileError(path, f"line 1: the column '{name}' appears {header.count(name)} times "
                                          "(which one to read?)")
    ti, ri = header.index(TIME_COLUMN), header.index(RMS_COLUMN)
    times, values = [], []
    for line, row in rows[1:]:
        if any(c.strip() for c in row[len(header):]):  # "0,5" meant as 0.5 would silently read as rms 0
            raise EnvelopeFileError(path, f"line {line}: {len(row)} cells but the header names {len(header)} "
                                          "columns (a decimal comma? write 0.5, not 0,5)")
        cells = []
        for col, name in ((ti, TIME_COLUMN), (ri, RMS_COLUMN)):
            cell = row[col].strip() if col < len(row) else ""
            try:
                value = float(cell)
            except ValueError:
                raise EnvelopeFileError(path, f"line {line}: {name} value {_shown(cell)} is not a number") from None
            if not math.isfinite(value):
                raise EnvelopeFileError(path, f"line {line}: {name} value {_shown(cell)} is not finite")
            cells.append(value)
        t, v = cells
        if v < 0:
            raise EnvelopeFileError(path, f"line {line}: rms {v} is negative (RMS is >= 0)")
        if v > MAX_RMS:
            raise EnvelopeFileError(path, f"line {line}: rms {v} is above {MAX_RMS} (RMS of audio in [-1, 1])")
        if t < 0:
            raise EnvelopeFileError(path, f"line {line}: time {t} is negative")
        if times and t <= times[-1]:
            what = "duplicate" if t == times[-1] else "out of order"
            raise EnvelopeFileError(path, f"line {line}: time {t} is {what} (times must increase strictly)")
        times.append(t)
        values.append(v)
    if not values:
        raise EnvelopeFileError(path, "no data rows after the header")
    return np.asarray(times), np.asarray(values, dtype=np.float32)


def read_envelope(
    csv_path: str | os.PathLike,
    *,
    expected_duration_s: float | None = None,
    default_frame_rate: float | None = None,
    video_sha256: str | None = None,
    video_name: str = "this video",
) -> EnvelopeFile:
    """Read and validate an envelope CSV (and its sidecar, when present).

    Without a sidecar the frame rate is ``default_frame_rate`` or, failing
    that, inferred from the time column. Times must sit on the frame grid
    (a quarter-frame of slack); the row count must match the sidecar; with
    ``expected_duration_s`` the envelope must span that duration; with
    ``video_sha256`` a sidecar that names another video's sha256 is refused
    (an envelope of another video would put its hits out of place).

    Raises
    ------
    EnvelopeFileError
        Naming the file, the line and the reason.
    """
    path = Path(csv_path)
    if problem := not_a_regular_file(path):
        raise EnvelopeFileError(path, problem.replace("a media file", "an envelope CSV"))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise EnvelopeFileError(path, "not a text file (expected CSV with time_s,rms)") from None
    meta = _read_sidecar(path)
    times, values = _parse_rows(path, text)
    if meta is not None:
        rate = float(meta["frame_rate"])
        n = meta.get("n_frames")
        if n is not None and n != len(values):
            raise EnvelopeFileError(
                path, f"has {len(values)} rows but its sidecar says {n} frames (rows added or deleted?)"
            )
    elif default_frame_rate is not None:
        rate = float(default_frame_rate)
    elif len(times) >= 2:
        rate = 1.0 / float(np.median(np.diff(times)))
    else:
        raise EnvelopeFileError(path, "one row and no sidecar: cannot tell the frame rate")
    grid = (np.arange(len(values)) + 0.5) / rate
    off = np.abs(times - grid) * rate
    if off.max() > GRID_TOLERANCE:
        bad = int(np.argmax(off))
        raise EnvelopeFileError(
            path, f"line {bad + 2}: time {times[bad]} is off the frame grid (expected {grid[bad]:.6f} "
            f"at {rate:g} frames/s); keep the time column as written and edit only rms"
        )
    if expected_duration_s is not None:
        span = len(values) / rate
        if abs(span - expected_duration_s) * rate > DURATION_TOLERANCE_FRAMES + 1e-6:
            raise EnvelopeFileError(
                path, f"envelope covers {span:.3f} s but the video lasts {expected_duration_s:.3f} s"
            )
    if meta is not None and video_sha256 and meta.get("video_sha256") not in (None, video_sha256):
        raise EnvelopeFileError(
            sidecar_path(path), f"was made for another video (sha256 {str(meta['video_sha256'])[:12]}…), not "
            f"{video_name} (sha256 {video_sha256[:12]}…); to use it anyway, delete its video_sha256 line"
        )
    return EnvelopeFile(envelope=values, frame_rate=rate, metadata=dict(meta or {}))
