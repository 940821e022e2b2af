"""Turn the user's paths (files or folders) into a list of videos to process."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath

from data_catalog.media.file_types import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS  # noqa: F401 (re-exported)

UNSAFE_STEM_CHARS = re.compile(r"[\x00-\x1f/\\]")  # control chars and separators only: keep unicode


@dataclass(frozen=True)
class InputVideo:
    """A video to process and its path relative to the root it was found under.

    A file given by name has its own name as ``relative``; a file found in a
    folder has its path below that folder (``shoots/day1/take3.mp4``), which
    the outputs mirror, as bucket keys do.
    """

    path: str
    relative: PurePath


def collect_inputs(paths: list[str], extensions: frozenset[str] = VIDEO_EXTENSIONS) -> list[InputVideo]:
    """Files as given (any extension: ffprobe decides) and video files found in folders.

    Folders are walked recursively, hidden files skipped, results sorted. A
    path that does not exist is kept so that it is reported as a failure.
    """
    found: list[InputVideo] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [InputVideo(str(Path(root) / f), (Path(root) / f).relative_to(path))
                          for f in sorted(files)
                          if not f.startswith(".") and Path(f).suffix.lower() in extensions]
        else:
            found.append(InputVideo(str(path), PurePath(path.name or str(path))))
    seen: set[str] = set()
    return [v for v in found if not (v.path in seen or seen.add(v.path))]


def collect_videos(paths: list[str], extensions: frozenset[str] = VIDEO_EXTENSIONS) -> list[str]:
    """The paths of :func:`collect_inputs`."""
    return [video.path for video in collect_inputs(paths, extensions)]


def output_stems(videos: list[str]) -> dict[str, str]:
    """A distinct output name per file of one folder listing: its stem, with a suffix when stems collide."""
    stems: dict[str, str] = {}
    used: dict[str, int] = {}
    for video in videos:
        stem = UNSAFE_STEM_CHARS.sub("_", Path(video).stem) or "video"
        count = used.get(stem, 0)
        used[stem] = count + 1
        stems[video] = stem if count == 0 else f"{stem}-{count + 1}"
    return stems
