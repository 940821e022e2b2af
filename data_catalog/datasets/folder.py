"""Any folder of videos with their audio, with an optional ``labels.csv``.

Videos are found recursively; each item's id is its file stem. A
``labels.csv`` in the folder (or the file ``labels`` names) gives labels
joined on that stem::

    video,material,action,reaction
    2015-02-16-16-49-06_mic,metal,scratch,static

(the layout of the Greatest Hits development set; ``video`` may also be a
file name such as ``clip.mp4``). Labelled videos get FolAI's prompt
"A person {action} {frequency} on {material} with a wooden stick", with
``default_frequency`` since a plain folder has no per-hit annotations
(Greatest Hits recordings average 48 actions, so a 10 s chunk almost always
holds several). Unlabelled videos get no prompt.

Split: ``all`` for every item by default; or a hold-out, ``holdout_split``
for the held-out items and ``train`` for the rest, chosen either by
``holdout`` (a list of stems, or a text file of them) or by
``holdout_fraction`` (seeded order, :mod:`.splits`).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from data_catalog.datasets import splits as split_rules
from data_catalog.datasets.base import (
    FOLAI_PROMPT_TEMPLATE,
    VIDEO_EXTENSIONS,
    DatasetAdapter,
    DatasetItem,
    find_videos,
)
from data_catalog.errors import OptionError, SonorizeInputError

log = logging.getLogger(__name__)

LABELS_FILE = "labels.csv"
LABEL_COLUMNS = ("video", "material", "action", "reaction")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")  # the name is a cache folder name too


def read_labels(path: Path) -> dict[str, dict[str, str | None]]:
    """``{stem: {"material", "action", "reaction"}}`` from a labels CSV (empty cells -> None).

    Raises
    ------
    SonorizeInputError
        Unreadable file, missing columns, a row with too few or too many
        cells, an empty ``video`` cell, or a video listed twice.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SonorizeInputError(path, f"labels file cannot be read as CSV ({exc})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise SonorizeInputError(path, f"labels file has no header row; expected {', '.join(LABEL_COLUMNS)}")
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [c for c in LABEL_COLUMNS if c not in header]
    if missing:
        raise SonorizeInputError(path, f"labels file lacks column(s) {', '.join(missing)}; "
                                       f"expected a header {','.join(LABEL_COLUMNS)} (found {','.join(header)})")
    index = {name: header.index(name) for name in LABEL_COLUMNS}
    labels: dict[str, dict[str, str | None]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise SonorizeInputError(path, f"line {number}: {len(row)} cells, the header has {len(header)}")
        video = row[index["video"]].strip()
        if not video:
            raise SonorizeInputError(path, f"line {number}: the video cell is empty")
        stem = Path(video).stem if Path(video).suffix.lower() in VIDEO_EXTENSIONS else Path(video).name
        if stem in labels:
            raise SonorizeInputError(path, f"line {number}: video {stem!r} is listed twice")
        labels[stem] = {name: (row[index[name]].strip() or None) for name in LABEL_COLUMNS[1:]}
    return labels


@dataclass
class FolderAdapter(DatasetAdapter):
    """A folder of videos (their audio is the target), labels from an optional CSV.

    Parameters
    ----------
    name : str
        Dataset name in the catalog and the feature cache; give each folder its own.
    labels : path or None
        Labels CSV, relative to the folder (default ``labels.csv``, used when present);
        None ignores labels. A path given explicitly must exist.
    chunk_s : float
        Training chunk length (default 10 s, as Greatest Hits).
    holdout : list of str, or path, optional
        Stems (or a text file of stems, one per line) to hold out.
    holdout_fraction : float, optional
        Fraction of items to hold out, chosen by seeded order.
    holdout_split : str
        Split name of the held-out items (``test`` or ``val``).
    prompt_template, default_frequency : str
        Prompt of labelled videos, and the frequency word it gets.
    """

    name: str = "folder"
    labels: str | os.PathLike | None = LABELS_FILE
    chunk_s: float = 10.0
    holdout: list[str] | str | os.PathLike | None = None
    holdout_fraction: float | None = None
    holdout_split: str = "test"
    prompt_template: str = FOLAI_PROMPT_TEMPLATE
    default_frequency: str = "multiple times"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise OptionError(f"name must match {_NAME.pattern} (it is a folder name), got {self.name!r}")
        if not (self.chunk_s > 0):
            raise OptionError(f"chunk_s must be > 0, got {self.chunk_s!r}")
        if self.holdout is not None and self.holdout_fraction is not None:
            raise OptionError("give holdout or holdout_fraction, not both")
        if self.holdout_fraction is not None and not 0 < self.holdout_fraction < 1:
            raise OptionError(f"holdout_fraction must be between 0 and 1, got {self.holdout_fraction!r}")
        if self.holdout_split not in ("test", "val"):
            raise OptionError(f"holdout_split must be 'test' or 'val', got {self.holdout_split!r}")

    def _list(self, root: Path) -> list[DatasetItem]:
        labels = self._read_labels(root)
        items = []
        for video in find_videos(root):
            row = labels.get(video.stem, {})
            items.append(DatasetItem(
                dataset=self.name, item_id=video.stem, video_path=str(video), split="", chunk_s=self.chunk_s,
                prompt=self._prompt(row), material=row.get("material"), action=row.get("action"),
                reaction=row.get("reaction"),
            ))
        unknown = sorted(set(labels) - {item.item_id for item in items})
        if unknown:  # a typo or a removed video: worth a line in the log, not a stop
            log.warning("%s: labels for %d video(s) not in the folder, e.g. %s", root, len(unknown), unknown[:5])
        return sorted(items, key=lambda i: i.item_id)

    def _read_labels(self, root: Path) -> dict[str, dict[str, str | None]]:
        if self.labels is None:
            return {}
        path = Path(self.labels).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            if Path(self.labels) == Path(LABELS_FILE):
                return {}  # the default file is optional
            raise SonorizeInputError(path, "labels file does not exist")
        return read_labels(path)

    def _prompt(self, row: dict[str, str | None]) -> str | None:
        if not row or not (row.get("material") or row.get("action")):
            return None
        return self.prompt_template.format(
            action=row.get("action") or "hit", frequency=self.default_frequency,
            material=(row.get("material") or "an object").replace("-", " "),
            reaction=row.get("reaction") or "",
        )

    def _assign_splits(self, root: Path, items: list[DatasetItem]) -> tuple[dict[str, str], str]:
        ids = [item.item_id for item in items]
        if self.holdout is not None:
            held = set(self._holdout_ids(root))
            unknown = sorted(held - set(ids))
            if unknown:
                raise SonorizeInputError(root, f"hold-out list names video(s) not in the folder: {unknown[:5]}")
            method = f"explicit hold-out list ({len(held)} -> {self.holdout_split})"
        elif self.holdout_fraction is not None:
            n_held = round(len(ids) * self.holdout_fraction)
            held = set(split_rules.hash_order(ids, self.seed)[:n_held])
            method = f"seeded hold-out (seed {self.seed}) of {self.holdout_fraction:g} -> {self.holdout_split}"
        else:
            return {i: "all" for i in ids}, "no split (all)"
        return {i: self.holdout_split if i in held else "train" for i in ids}, method

    def _holdout_ids(self, root: Path) -> list[str]:
        if isinstance(self.holdout, (list, tuple, set)):
            return [Path(str(s)).stem if Path(str(s)).suffix.lower() in VIDEO_EXTENSIONS else str(s)
                    for s in self.holdout]
        path = Path(self.holdout).expanduser()
        path = path if path.is_absolute() else root / path
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SonorizeInputError(path, f"hold-out list cannot be read ({exc})") from None
        return [Path(s.strip()).stem if Path(s.strip()).suffix.lower() in VIDEO_EXTENSIONS else s.strip()
                for s in lines if s.strip()]
