"""Greatest Hits (Owens et al., CVPR 2016) from the public release's own files.

Layout of the release folder (``vis-data``; the layout Video-Foley's and
CondFoleyGen's preprocessing read)::

    <id>_denoised.mp4   the recording with its denoised microphone audio
    <id>_mic.mp4        the same with the raw microphone audio (optional)
    <id>_times.txt      one line per annotated action: "<time s> <material> <action> <reaction>"
                        (whitespace separated; "None" where a label is unknown)
    train.txt, test.txt the release's own train / test lists, one id per line (optional)

``<id>`` is the recording time, ``YYYY-MM-DD-HH-MM-SS`` with an optional
``-<n>`` part. Videos may sit in sub-folders; each annotation file is looked
for beside its video. The ``_denoised`` video is used when both exist (FolAI
V-A: audio "recorded with a shotgun microphone ... and then denoised").

Split (FolAI V-A: 732 / 49 / 196 of 977; FolAI does not publish its lists):

1. ``split_file`` when given (a split recorded by an earlier run, or any list);
2. else the release's ``train.txt`` / ``test.txt`` (and ``val.txt`` if present);
   without a ``val.txt`` the validation set is carved from the training list
   by the seeded order, ``round(n * 49 / 977)`` ids;
3. else a seeded shuffle of the sorted ids cut 732 / 49 / 196 (same
   proportions for another number of videos), see :mod:`.splits`.

The split used is recorded by the preprocess flow (``<catalog>/splits/``).

Prompts (FolAI V-A): "A person {action} {frequency} on {material} with a
wooden stick", action and material the majority over the video's annotations
("None" ignored), frequency "multiple times" when the chunk holds more than
one annotated action, else "once".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from data_catalog.datasets import splits as split_rules
from data_catalog.datasets.base import (
    DatasetAdapter,
    DatasetItem,
    Hit,
    count_hits,
    find_videos,
    folai_prompt,
)
from data_catalog.errors import OptionError, SonorizeInputError

VIDEO_ID = re.compile(r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}(?:-\d+)?")  # recording time [-n]
VIDEO_NAME = re.compile(rf"(?P<id>{VIDEO_ID.pattern})_(?P<variant>denoised|mic)")
VARIANTS = ("denoised", "mic")
UNKNOWN_LABEL = "None"  # what the annotation files write for an unknown material / action
OFFICIAL_LISTS = {"train": "train.txt", "val": "val.txt", "test": "test.txt"}


def parse_times_file(path: Path) -> tuple[Hit, ...]:
    """Hits of a ``<id>_times.txt`` file, in file order.

    Raises
    ------
    SonorizeInputError
        A line that is not ``<time> <material> <action> <reaction>`` with a finite time >= 0.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SonorizeInputError(path, "annotation file is missing (every Greatest Hits video has a _times.txt)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SonorizeInputError(path, f"annotation file cannot be read ({exc})") from None
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            time_s = float(fields[0]) if len(fields) == 4 else math.nan
        except ValueError:
            time_s = math.nan
        if not (math.isfinite(time_s) and time_s >= 0):
            raise SonorizeInputError(
                path, f"line {number}: expected '<time s> <material> <action> <reaction>', got {line.strip()!r}")
        hits.append(Hit(time_s=time_s, material=fields[1], action=fields[2], reaction=fields[3]))
    return tuple(hits)


def majority(values: list[str]) -> str | None:
    """Most frequent known label ("None" ignored); ties go to the alphabetically first."""
    counts = Counter(v for v in values if v != UNKNOWN_LABEL)
    if not counts:
        return None
    return min(counts, key=lambda v: (-counts[v], v))


@dataclass
class GreatestHitsAdapter(DatasetAdapter):
    """Greatest Hits release folder -> items with FolAI prompts and the 732/49/196 split.

    Parameters
    ----------
    prefer : str
        ``denoised`` (default) or ``mic``: which video to use when both exist.
    """

    prefer: str = "denoised"

    name = "greatest-hits"
    chunk_s = 10.0  # FolAI V-A: 10 s chunks

    def __post_init__(self) -> None:
        if self.prefer not in VARIANTS:
            raise OptionError(f"prefer must be one of {VARIANTS}, got {self.prefer!r}")

    def _list(self, root: Path) -> list[DatasetItem]:
        by_id: dict[str, dict[str, Path]] = {}
        for video in find_videos(root):
            match = VIDEO_NAME.fullmatch(video.stem)
            if match is None:
                raise SonorizeInputError(
                    video, "not a Greatest Hits video name: expected <YYYY-MM-DD-HH-MM-SS[-n]>_denoised.mp4 "
                           "or ..._mic.mp4")
            by_id.setdefault(match["id"], {})[match["variant"]] = video
        items = []
        for video_id in sorted(by_id):
            variants = by_id[video_id]
            video = variants.get(self.prefer) or next(variants[v] for v in VARIANTS if v in variants)
            hits = parse_times_file(video.with_name(f"{video_id}_times.txt"))
            action = majority([h.action for h in hits])
            material = majority([h.material for h in hits])
            reaction = majority([h.reaction for h in hits])
            items.append(DatasetItem(
                dataset=self.name, item_id=video_id, video_path=str(video), split="", chunk_s=self.chunk_s,
                prompt=folai_prompt(action, material, multiple=len(hits) > 1),
                material=material, action=action, reaction=reaction, hits=hits,
            ))
        return items

    def chunk_prompt(self, item: DatasetItem, start_s: float, duration_s: float) -> str | None:
        """FolAI prompt of one chunk: the video's action and material, the chunk's frequency."""
        return folai_prompt(item.action, item.material, multiple=count_hits(item, start_s, duration_s) > 1)

    def _assign_splits(self, root: Path, items: list[DatasetItem]) -> tuple[dict[str, str], str]:
        ids = [item.item_id for item in items]
        official = self._official_lists(root, items)
        if not official:
            return split_rules.assign_by_counts(ids, split_rules.FOLAI_PROPORTIONS, self.seed), \
                f"seeded shuffle (seed {self.seed}) of the sorted ids, FolAI counts 732/49/196 scaled"
        assigned: dict[str, str] = {}
        for split, (path, listed) in official.items():
            for video_id in listed:
                if assigned.setdefault(video_id, split) != split:
                    raise SonorizeInputError(path, f"{video_id} is also listed for {assigned[video_id]!r}")
        missing = [i for i in ids if i not in assigned]
        if missing:
            names = ", ".join(str(p) for p, _ in official.values())
            raise SonorizeInputError(root, f"{len(missing)} video(s) are in none of {names}, e.g. {missing[:5]}")
        splits = {i: assigned[i] for i in ids}
        method = "official lists " + ", ".join(p.name for p, _ in official.values())
        if "val" not in official:
            n_val = split_rules.split_counts(len(ids), split_rules.FOLAI_PROPORTIONS)["val"]
            train = [i for i in ids if splits[i] == "train"]
            for video_id in split_rules.hash_order(train, self.seed)[:n_val]:
                splits[video_id] = "val"
            method += f"; val = {n_val} ids of train by seeded order (seed {self.seed})"
        return splits, method

    @staticmethod
    def _official_lists(root: Path, items: list[DatasetItem]) -> dict[str, tuple[Path, list[str]]]:
        """``{split: (file, ids)}`` of the release's list files beside the videos or in ``root``."""
        folders = [root, *sorted({Path(i.video_path).parent for i in items} - {root})]
        found = {}
        for split, filename in OFFICIAL_LISTS.items():
            path = next((f / filename for f in folders if (f / filename).is_file()), None)
            if path is not None:
                found[split] = (path, _read_id_list(path))
        # a val list alone is no split; train and test must both be there
        return found if {"train", "test"} <= found.keys() else {}


def _read_id_list(path: Path) -> list[str]:
    """Ids of a list file; names with a suffix or extension (``<id>_denoised.mp4``) are reduced to the id."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SonorizeInputError(path, f"split list cannot be read ({exc})") from None
    ids = []
    for number, line in enumerate(lines, start=1):
        name = Path(line.strip()).name
        if not name:
            continue
        video_id = name.split("_", 1)[0].split(".", 1)[0]
        if not VIDEO_ID.fullmatch(video_id):
            raise SonorizeInputError(path, f"line {number}: {line.strip()!r} is not a Greatest Hits id")
        ids.append(video_id)
    return ids
