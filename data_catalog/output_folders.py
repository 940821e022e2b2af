"""Where a video's outputs go, so that one video's outputs never replace another's.

Each local video writes into ``OUT/<its folder below the input root>/<stem>/``
(``shoots/day1/take3.mp4`` -> ``OUT/shoots/day1/take3/take3.foley.wav`` ...),
the layout bucket keys get. Names are made safe first (no separators, no
leading dots, so no ``.``/``..`` and no hidden outputs; short enough for the
longest output name and its temporary file). A folder is reused only by the
video that wrote it: its record (or, from a run killed before the record, its
envelope sidecar) names the source path and its sha256. Any other video gets
the next free ``stem-N``.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from data_catalog.atomic import is_temporary_name
from data_catalog.hashing import sha256_file

UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")  # control chars and separators only: keep unicode
MAX_STEM_BYTES = 200  # NAME_MAX 255 minus the longest output suffix (".envelope.json") and "-NN"
MAX_CANDIDATES = 10000  # stem, stem-2, ... stem-10000: more than any folder holds


def safe_name(name: str, fallback: str = "video", max_bytes: int = MAX_STEM_BYTES) -> str:
    """``name`` usable as one file-name segment: no separators or control characters, no
    leading dots (so never ``.``, ``..`` or hidden), at most ``max_bytes`` UTF-8 bytes."""
    clean = UNSAFE_NAME_CHARS.sub("_", name).lstrip(". ")
    clean = clean.encode("utf-8")[:max_bytes].decode("utf-8", "ignore").rstrip()
    return clean or fallback


def output_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """Where each output of a video goes."""
    return {
        "wav": out_dir / f"{stem}.foley.wav",
        "video": out_dir / f"{stem}.foley.mp4",
        "envelope_csv": out_dir / f"{stem}.envelope.csv",
        "envelope_json": out_dir / f"{stem}.envelope.json",
        "envelope_png": out_dir / f"{stem}.envelope.png",
        "labels": out_dir / f"{stem}.labels.txt",
        "record": out_dir / f"{stem}.record.json",
    }


@dataclass(frozen=True)
class FolderOwner:
    """Who wrote an output folder (``source_path`` None: files of unknown origin)."""

    source_path: str | None
    sha256: str | None = None
    size_bytes: int | None = None


def folder_owner(folder: Path, stem: str) -> FolderOwner | None:
    """The video whose outputs ``folder`` holds; None when it holds nothing (absent or empty
    but for temporary files)."""
    try:
        entries = [e for e in os.listdir(folder) if not is_temporary_name(e)]
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not entries:
        return None
    paths = output_paths(folder, stem)
    for key in ("record", "envelope_json"):
        try:
            data = json.loads(paths[key].read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        source = data.get("source_path") or data.get("video_path") or data.get("source")
        if isinstance(source, str):
            size = (data.get("video") or {}).get("size_bytes") if isinstance(data.get("video"), dict) else None
            return FolderOwner(os.path.abspath(source), data.get("video_sha256"), size)
    return FolderOwner(None)


def owns(owner: FolderOwner, video: str) -> bool:
    """Whether ``owner`` is ``video``: the same path, or (moved, renamed) the same content."""
    if owner.source_path is None:
        return False
    if owner.source_path == os.path.abspath(video):
        return True
    try:
        info = os.stat(video)
    except OSError:
        return False
    if not owner.sha256 or not stat.S_ISREG(info.st_mode) or owner.size_bytes not in (None, info.st_size):
        return False
    return sha256_file(video) == owner.sha256


def candidate_names(stem: str):
    yield stem
    for n in range(2, MAX_CANDIDATES + 1):
        yield f"{stem}-{n}"


def assign_output_folders(videos: list[tuple[str, PurePath]], out_root: Path,
                          note: Callable[[str, str], None] = lambda video, message: None,
                          ) -> dict[str, tuple[PurePath, str]]:
    """A distinct output folder (relative to ``out_root``) and stem per video.

    Parameters
    ----------
    videos : (path, path relative to its input root) per video, in processing order.
    out_root : the output folder.
    note : called with (video, message) when a video cannot have its natural folder.

    Returns
    -------
    ``{video: (folder relative to out_root, stem)}``; the folder's last segment is the stem.
    A video first gets back a folder it wrote before (so a file added later never takes it
    over), else the first ``stem``, ``stem-2``, ... that no other video of this run has and
    that holds no other video's outputs.
    """
    taken: set[PurePath] = set()
    assigned: dict[str, tuple[PurePath, str]] = {}
    natural: dict[str, tuple[PurePath, str]] = {}
    for video, relative in videos:
        parent = PurePath(*[safe_name(part, "_") for part in relative.parent.parts])
        natural[video] = (parent, safe_name(PurePath(relative.name).stem if relative.suffix else relative.name))
    for video, _ in videos:  # first: folders this video wrote in an earlier run
        parent, stem = natural[video]
        for name in candidate_names(stem):
            owner = folder_owner(out_root / parent / name, name)
            if owner is None:
                break  # the first gap ends the family of stem-N folders
            if parent / name not in taken and owns(owner, video):
                assigned[video] = (parent / name, name)
                taken.add(parent / name)
                break
    for video, _ in videos:
        if video in assigned:
            continue
        parent, stem = natural[video]
        for name in candidate_names(stem):
            if parent / name not in taken and folder_owner(out_root / parent / name, name) is None:
                break
        assigned[video] = (parent / name, name)
        taken.add(parent / name)
        if name != stem:
            natural_folder = out_root / parent / stem
            why = ("is another video's output folder in this batch" if parent / stem in taken - {parent / name}
                   and folder_owner(natural_folder, stem) is None else "holds another video's outputs")
            note(video, f"{natural_folder} {why}; writing into {out_root / parent / name} instead")
    return assigned
