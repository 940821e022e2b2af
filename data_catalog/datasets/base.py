"""The common interface of dataset adapters: items, splits, chunks and prompts.

An adapter turns a folder the user points to into a list of
:class:`DatasetItem` (one per video) with a deterministic split, and cuts a
probed video into :class:`Chunk` s (the training examples: 10 s on Greatest
Hits, 2 s on Walking The Maps, FolAI V-A). Listing reads only names and small
metadata files; the media are probed and decoded later, per item, by the
preprocess flow, so one bad video does not stop the listing of the others.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from data_catalog.datasets import splits as split_rules
from data_catalog.errors import MediaError, SonorizeInputError
from data_catalog.media import VideoInfo
from data_catalog.media.file_types import VIDEO_EXTENSIONS  # noqa: F401 (what a dataset folder is searched for)

CHUNK_TOLERANCE_S = 1e-3  # 9.9995 s of video still holds one 10 s chunk (container rounding)
AUDIO_TOLERANCE_S = 0.25  # audio a little shorter than the picture is normal (codec priming)
# FolAI V-A text prompt template; {action} is "hit" or "scratch", {frequency} "once" or "multiple times".
FOLAI_PROMPT_TEMPLATE = "A person {action} {frequency} on {material} with a wooden stick"


@dataclass(frozen=True)
class Hit:
    """One annotated action of a Greatest Hits video (a line of ``<id>_times.txt``)."""

    time_s: float
    material: str
    action: str
    reaction: str


@dataclass(frozen=True)
class DatasetItem:
    """One video of a dataset, with its split and what is known about its content.

    Parameters
    ----------
    dataset : str
        Adapter name (also the feature-cache partition).
    item_id : str
        Id of the video inside the dataset (file stem or dataset id), unique per dataset.
    video_path : str
        The video file; its own audio track is the training target.
    split : str
        ``train`` / ``val`` / ``test``, or ``all`` where the dataset has no split.
    chunk_s : float
        Length of the training chunks cut from this video.
    prompt : str or None
        Text prompt for the whole video (chunks may have their own, see
        :meth:`DatasetAdapter.chunk_prompt`).
    material, action, reaction : str or None
        Labels, where the dataset has them.
    hits : tuple of Hit or None
        Annotated actions with their times (Greatest Hits); None where the dataset has none.
    group : str or None
        What must not be split across train/val/test (Walking The Maps: the YouTube video id).
    start_s, end_s : float or None
        Position of the clip in its source video, where the file name says it.
    """

    dataset: str
    item_id: str
    video_path: str
    split: str
    chunk_s: float
    prompt: str | None = None
    material: str | None = None
    action: str | None = None
    reaction: str | None = None
    hits: tuple[Hit, ...] | None = None
    group: str | None = None
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True)
class Chunk:
    """A training example: ``duration_s`` seconds of a video from ``start_s``."""

    index: int
    start_s: float
    duration_s: float
    prompt: str | None
    n_hits: int | None = None
    audio_complete: bool = True


@dataclass
class DatasetAdapter(ABC):
    """Reads one dataset's own layout; subclasses set ``name`` and ``chunk_s``.

    Parameters
    ----------
    split_file : path, optional
        A split recorded earlier (:func:`data_catalog.datasets.splits.write_split_file`, or the
        ``splits/`` record of a preprocess run): pins every item's split. Every listed item
        must be in it.
    seed : int
        Seed of the deterministic split (used when no ``split_file`` or official list is given).
    """

    split_file: str | os.PathLike | None = None
    seed: int = split_rules.DEFAULT_SEED
    _splits: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _split_method: str = field(default="", init=False, repr=False)

    name = "base"
    chunk_s = 10.0
    separation_query: ClassVar[str | None] = None  # AudioSep query cleaning the targets by default (None: keep the audio)

    # -- what subclasses implement -----------------------------------------------------------

    @abstractmethod
    def _list(self, root: Path) -> list[DatasetItem]:
        """Items of ``root`` (split still unset), sorted by ``item_id``."""

    @abstractmethod
    def _assign_splits(self, root: Path, items: list[DatasetItem]) -> tuple[dict[str, str], str]:
        """``({item_id: split}, how)`` when no split file is given."""

    # -- the interface -----------------------------------------------------------------------

    def items(self, root: str | os.PathLike) -> list[DatasetItem]:
        """Every video of the dataset at ``root``, with its split, sorted by ``item_id``.

        Raises
        ------
        SonorizeInputError
            The folder is missing or empty, holds no videos, a file name or a
            metadata file is malformed, or a split file does not cover every item.
        """
        root = require_folder(root)
        listed = self._list(root)
        duplicates = sorted(i for i, n in Counter(item.item_id for item in listed).items() if n > 1)
        if duplicates:
            raise SonorizeInputError(root, f"item ids occur more than once: {', '.join(duplicates[:5])}")
        if self.split_file is not None:
            splits = split_rules.load_split_file(self.split_file, [i.item_id for i in listed])
            method = f"split file {self.split_file}"
        else:
            splits, method = self._assign_splits(root, listed)
        self._check_groups(listed, splits)
        self._splits, self._split_method = dict(splits), method
        return [replace(item, split=splits[item.item_id]) for item in listed]

    def split_of(self, item: DatasetItem) -> str:
        """The split this adapter assigned to ``item`` (after :meth:`items`)."""
        try:
            return self._splits[item.item_id]
        except KeyError:
            raise ValueError(f"{item.item_id!r} was not listed by {self.name}.items(); call items(root) first") from None

    def split_record(self) -> dict:
        """The split of the last :meth:`items` call, as a JSON-able record (see :mod:`.splits`)."""
        return split_rules.split_record(self.name, self._splits, method=self._split_method, seed=self.seed)

    def chunk_prompt(self, item: DatasetItem, start_s: float, duration_s: float) -> str | None:
        """Text prompt of one chunk (default: the video's prompt)."""
        return item.prompt

    def chunks(self, item: DatasetItem, duration_s: float, audio_duration_s: float | None = None) -> list[Chunk]:
        """Consecutive chunks of ``chunk_s`` covering a video of ``duration_s`` seconds.

        A last partial chunk is dropped (as Video-Foley's preprocessing does:
        a model trained on fixed 10 s windows gets no padded tail); a video
        shorter than one chunk gives one chunk of its whole length, so no
        item is lost. ``audio_complete`` is False for chunks that reach past
        the end of an audio track that stops early.
        """
        if not (duration_s > 0):
            raise MediaError(item.video_path, f"duration must be > 0, got {duration_s!r}")
        n_full = math.floor(duration_s / item.chunk_s + CHUNK_TOLERANCE_S)
        spans = [(i * item.chunk_s, item.chunk_s) for i in range(n_full)] or [(0.0, float(duration_s))]
        out = []
        for index, (start, length) in enumerate(spans):
            complete = audio_duration_s is None or start + length <= audio_duration_s + AUDIO_TOLERANCE_S
            out.append(Chunk(index=index, start_s=start, duration_s=length,
                             prompt=self.chunk_prompt(item, start, length),
                             n_hits=count_hits(item, start, length) if item.hits is not None else None,
                             audio_complete=complete))
        return out

    def require_audio(self, item: DatasetItem, info: VideoInfo) -> None:
        """Raise unless the probed video has an audio track (the training target)."""
        if not info.has_audio:
            raise SonorizeInputError(
                item.video_path,
                "no audio stream: training needs the video's own audio as the envelope target",
            )

    # -- shared checks -----------------------------------------------------------------------

    @staticmethod
    def _check_groups(items: list[DatasetItem], splits: dict[str, str]) -> None:
        seen: dict[str, str] = {}
        for item in items:
            if item.group is None:
                continue
            first = seen.setdefault(item.group, splits[item.item_id])
            if first != splits[item.item_id]:
                raise SonorizeInputError(
                    item.video_path,
                    f"video id {item.group!r} is in both {first!r} and {splits[item.item_id]!r}: "
                    "clips of one source video must stay in one split",
                )


def count_hits(item: DatasetItem, start_s: float, duration_s: float) -> int:
    """Annotated actions of ``item`` in ``[start_s, start_s + duration_s)``."""
    end = start_s + duration_s
    return sum(start_s <= hit.time_s < end for hit in item.hits or ())


def require_folder(root: str | os.PathLike) -> Path:
    """``root`` as a Path; SonorizeInputError unless it is a folder with something in it."""
    path = Path(root).expanduser().absolute()
    if not path.exists():
        raise SonorizeInputError(path, "dataset folder does not exist")
    if not path.is_dir():
        raise SonorizeInputError(path, "is a file, not a dataset folder")
    try:
        empty = next(path.iterdir(), None) is None
    except OSError as exc:
        raise SonorizeInputError(path, f"dataset folder cannot be read ({exc.strerror or exc})") from None
    if empty:
        raise SonorizeInputError(path, "dataset folder is empty")
    return path


def find_videos(root: Path, *, recursive: bool = True) -> list[Path]:
    """Video files under ``root`` (hidden files and folders skipped), sorted; error if none."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found += [Path(folder) / f for f in files
                  if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS]
    if not found:
        kinds = ", ".join(sorted(VIDEO_EXTENSIONS)[:6])
        raise SonorizeInputError(root, f"no video files found (looked for {kinds}, ...)")
    return sorted(found)


def folai_prompt(action: str | None, material: str | None, multiple: bool) -> str:
    """FolAI's prompt; unknown labels read as "hit" / "an object", hyphens as spaces."""
    return FOLAI_PROMPT_TEMPLATE.format(
        action=action or "hit",
        frequency="multiple times" if multiple else "once",
        material=(material or "an object").replace("-", " "),
    )
