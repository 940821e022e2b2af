"""Turn the user's paths (files or folders) into a list of videos to process."""

from __future__ import annotations

import os
import re
from pathlib import Path

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv",
    ".ts", ".mts", ".m2ts", ".3gp", ".ogv", ".mxf",
})
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma"})
UNSAFE_STEM_CHARS = re.compile(r"[\x00-\x1f/\\]")  # control chars and separators only: keep unicode


def collect_videos(paths: list[str], extensions: frozenset[str] = VIDEO_EXTENSIONS) -> list[str]:
    """Files as given (any extension: ffprobe decides) and video files (``extensions``) found in folders.

    Folders are walked recursively, hidden files skipped, results sorted. A
    path that does not exist is kept so that it is reported as a failure.
    """
    found: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [str(Path(root) / f) for f in sorted(files)
                          if not f.startswith(".") and Path(f).suffix.lower() in extensions]
        else:
            found.append(str(path))
    seen: set[str] = set()
    return [p for p in found if not (p in seen or seen.add(p))]


def output_stems(videos: list[str]) -> dict[str, str]:
    """A distinct output name per video: its file stem, with a suffix when stems collide."""
    stems: dict[str, str] = {}
    used: dict[str, int] = {}
    for video in videos:
        stem = UNSAFE_STEM_CHARS.sub("_", Path(video).stem) or "video"
        count = used.get(stem, 0)
        used[stem] = count + 1
        stems[video] = stem if count == 0 else f"{stem}-{count + 1}"
    return stems
