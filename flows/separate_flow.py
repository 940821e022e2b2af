"""The ``separate`` flow: keep the sound a text query describes (AudioSep), for audio or video files.

Per file: ``<out>/<name>.separated.wav`` (44.1 kHz stereo, 24-bit; each input
channel separated on its own) and ``<name>.separated.png`` (spectrograms before
and after). The weights are checked, and AudioSep loaded, before any file is
decoded; a bad file (not audio, no audio stream, silent) is reported with its
reason and the others finish.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from data_catalog.errors import OptionError
from flows.inputs import (
    AUDIO_EXTENSIONS,
    VIDEO_EXTENSIONS,
    collect_videos,
    output_stems,
)
from flows.per_item import failed_record, for_each_item
from flows.progress import BatchProgress
from folai_models.separation.inference import DEFAULT_QUERY
from tasks.separation import load_separator, separate_file_task

OUTPUT_SUFFIX = ".separated"


@flow(name="separate", log_prints=True)
def separate(
    paths: list[str],
    query: str = DEFAULT_QUERY,
    out_dir: str | None = None,
    device: str = "auto",
    window_s: float | None = None,
    overlap_s: float | None = None,
    batch_windows: int | None = None,
    show_progress: bool = False,
) -> dict:
    """Separate what ``query`` describes from every audio or video file in ``paths``.

    Parameters
    ----------
    paths : files (any format ffmpeg reads) or folders (audio and video files in them, recursively).
    query : the sound to keep, in words (AudioSep's text query), e.g. ``"footstep sounds"``.
    out_dir : output folder; default: beside each input.
    device : ``auto`` (GPU when present), ``cpu`` or ``cuda``.
    window_s, overlap_s : separation windows and their crossfaded overlap (default 5 s and 2 s).
    batch_windows : windows per network call (default 4; more on a large GPU).
    show_progress : draw a progress bar (the command line sets it).

    Returns
    -------
    ``{"query", "revision", "device", "n_files", "n_failed", "files": [...]}``, one entry per file
    with ``status`` ``ok`` (and the separation's details) or ``failed`` (and ``error``).

    Raises
    ------
    SeparationWeightsMissing
        Weights not in the model store (each named with its pull command); nothing was decoded.
    ValueError
        An empty query.
    """
    logger = get_run_logger()
    if not query or not query.strip():
        raise OptionError("the separation query is empty: describe the sound to keep, e.g. 'footstep sounds'")
    separator = load_separator(device=device)
    files = collect_videos(paths, extensions=AUDIO_EXTENSIONS | VIDEO_EXTENSIONS)
    stems = output_stems(files)

    def one_file(source: str, note) -> dict:
        folder = Path(out_dir) if out_dir else Path(source).expanduser().parent
        wav = folder / f"{stems[source]}{OUTPUT_SUFFIX}.wav"
        note("separating")
        details = separate_file_task(
            source, str(wav), query, separator, png=str(wav.with_suffix(".png")), window_s=window_s,
            overlap_s=overlap_s, batch_windows=batch_windows,
            on_progress=lambda f: note(f"separating {100 * f:.0f} %"))
        return {"path": source, "status": "ok", **details}

    with BatchProgress(len(files), enabled=show_progress) as progress:
        results = for_each_item(files, one_file, failed_record("path"), label=str, progress=progress, logger=logger)
    for result in results:
        if result["status"] == "failed":
            logger.warning("failed: %s", result["error"])
    return {"query": query, "revision": separator.revision, "device": separator.device, "n_files": len(results),
            "n_failed": sum(r["status"] == "failed" for r in results), "files": results}


__all__ = ["separate"]
