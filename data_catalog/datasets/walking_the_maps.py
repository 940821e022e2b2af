"""Walking The Maps (FolAI V-A): footstep clips cut from video-game walkthroughs.

Every clip is named ``ID_start_end.mp4``: the YouTube id of the source video
(11 characters of ``[A-Za-z0-9_-]``, so it may itself contain ``_``) and the
clip's start and end in that video, in seconds. 893 clips of 2.04 to 72.05 s;
FolAI fine-tunes on 2 s chunks. Clips may sit in sub-folders (e.g. one per
game).

Split: by source video, so that no YouTube id is in two splits (clips of one
walkthrough share scenery, character and recording chain; splitting them
would leak the test set into training). FolAI does not state its proportions;
the Greatest Hits ones (732 / 49 / 196) are used, counted in clips, with
source videos assigned in seeded order (:func:`.splits.assign_groups`).

The clips' audio, cleaned as FolAI cleans it, is the target: by default the
``preprocess`` flow separates the footsteps with AudioSep ("footstep sounds",
SPEC stage 12; :attr:`WalkingTheMapsAdapter.separation_query`) and measures
the targets on the separated audio. No per-clip labels exist, so every prompt
is :data:`DEFAULT_PROMPT`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from data_catalog.datasets import splits as split_rules
from data_catalog.datasets.base import DatasetAdapter, DatasetItem, find_videos
from data_catalog.errors import SonorizeInputError

_NUMBER = r"\d+(?:\.\d+)?"
CLIP_NAME = re.compile(rf"(?P<id>[A-Za-z0-9_-]+)_(?P<start>{_NUMBER})_(?P<end>{_NUMBER})")
DEFAULT_PROMPT = "footstep sounds"  # FolAI's AudioSep query for these clips


def parse_clip_name(path: str | Path) -> tuple[str, float, float]:
    """``(youtube_id, start_s, end_s)`` from ``ID_start_end.<ext>``.

    Raises
    ------
    SonorizeInputError
        The name does not have that form, or end is not after start.
    """
    path = Path(path)
    match = CLIP_NAME.fullmatch(path.stem)
    if match is None:
        raise SonorizeInputError(
            path, "not a Walking The Maps clip name: expected <YouTube id>_<start s>_<end s>.mp4, "
                  "e.g. dQw4w9WgXcQ_12_20.5.mp4")
    start, end = float(match["start"]), float(match["end"])
    if end <= start:
        raise SonorizeInputError(path, f"clip end ({end:g} s) is not after its start ({start:g} s)")
    return match["id"], start, end


@dataclass
class WalkingTheMapsAdapter(DatasetAdapter):
    """Folder of ``ID_start_end.mp4`` clips -> items split by source video.

    Parameters
    ----------
    prompt : str
        Text prompt of every clip.
    """

    prompt: str = DEFAULT_PROMPT

    name = "walking-the-maps"
    chunk_s = 2.0  # FolAI V-A: fine-tuned on 2 s chunks (the shortest clip is 2.04 s)
    separation_query = DEFAULT_PROMPT  # FolAI V-A: targets cleaned by AudioSep with this query

    def _list(self, root: Path) -> list[DatasetItem]:
        items = []
        for video in find_videos(root):
            youtube_id, start, end = parse_clip_name(video)
            items.append(DatasetItem(
                dataset=self.name, item_id=video.stem, video_path=str(video), split="", chunk_s=self.chunk_s,
                prompt=self.prompt, group=youtube_id, start_s=start, end_s=end,
            ))
        return sorted(items, key=lambda i: i.item_id)

    def _assign_splits(self, root: Path, items: list[DatasetItem]) -> tuple[dict[str, str], str]:
        groups: dict[str, list[str]] = {}
        for item in items:
            groups.setdefault(item.group, []).append(item.item_id)
        method = (f"by YouTube id, seeded order (seed {self.seed}), "
                  "Greatest Hits proportions 732/49/196 counted in clips")
        return split_rules.assign_groups(groups, split_rules.FOLAI_PROPORTIONS, self.seed), method
