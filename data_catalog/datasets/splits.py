"""Deterministic train / val / test splits, and the file that records one.

Ids are ordered by ``sha256(f"{seed}:{id}")`` (a seeded shuffle that is the
same on every machine and Python version, and does not move the other ids
when one is added or removed), then cut by counts. The counts follow FolAI
V-A's Greatest Hits split, 732 / 49 / 196 of 977 videos: exact for 977 ids,
the same proportions (largest remainder) for any other number.

A split file is JSON::

    {"dataset": "greatest-hits", "method": "...", "seed": 0,
     "counts": {"train": 732, "val": 49, "test": 196},
     "splits": {"<item id>": "train", ...}}

Only ``splits`` is required, so a hand-written ``{"splits": {...}}`` works;
a file of the form ``{"train": [ids], "val": [ids], "test": [ids]}`` is
accepted too (as CondFoleyGen publishes its lists).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from data_catalog.atomic import write_json_atomic
from data_catalog.errors import SonorizeInputError

DEFAULT_SEED = 0
SPLITS = ("train", "val", "test")
FOLAI_GREATEST_HITS_COUNTS = {"train": 732, "val": 49, "test": 196}  # FolAI V-A, 977 videos
# Weights, normalised by their sum where used: integers keep 977 ids at exactly 732 / 49 / 196.
FOLAI_PROPORTIONS = dict(FOLAI_GREATEST_HITS_COUNTS)
KNOWN_SPLITS = frozenset({*SPLITS, "all"})


def hash_order(ids: Iterable[str], seed: int = DEFAULT_SEED) -> list[str]:
    """``ids`` in a seeded pseudo-random order that depends only on each id and the seed."""
    return sorted(set(ids), key=lambda i: (hashlib.sha256(f"{seed}:{i}".encode()).hexdigest(), i))


def split_counts(n: int, proportions: Mapping[str, float] = FOLAI_PROPORTIONS) -> dict[str, int]:
    """Counts per split summing to ``n`` (largest remainder; ties go to the earlier split)."""
    total = sum(proportions.values())
    exact = {name: n * share / total for name, share in proportions.items()}
    counts = {name: int(value) for name, value in exact.items()}
    order = sorted(proportions, key=lambda name: -(exact[name] - counts[name]))
    for name in order[: n - sum(counts.values())]:
        counts[name] += 1
    return counts


def assign_by_counts(ids: Iterable[str], proportions: Mapping[str, float] = FOLAI_PROPORTIONS,
                     seed: int = DEFAULT_SEED) -> dict[str, str]:
    """``{id: split}``: the seeded order cut into :func:`split_counts` pieces.

    The smaller splits are filled first (test, then val), so a re-count after
    adding ids keeps the held-out sets as stable as possible.
    """
    ordered = hash_order(ids, seed)
    counts = split_counts(len(ordered), proportions)
    out, position = {}, 0
    for name in sorted(counts, key=lambda s: counts[s]):
        for item in ordered[position: position + counts[name]]:
            out[item] = name
        position += counts[name]
    return out


def assign_groups(groups: Mapping[str, list[str]], proportions: Mapping[str, float] = FOLAI_PROPORTIONS,
                  seed: int = DEFAULT_SEED) -> dict[str, str]:
    """``{item: split}`` keeping each group (e.g. one YouTube video's clips) in one split.

    Groups are taken in seeded order; each goes to the split furthest below
    its share of items (relative deficit), so the item proportions come out
    close to ``proportions`` and, with three groups or more, no split is empty.
    """
    total_items = sum(len(members) for members in groups.values())
    share_sum = sum(proportions.values())
    targets = {name: max(total_items * share / share_sum, 1e-9) for name, share in proportions.items()}
    filled = {name: 0 for name in proportions}
    out: dict[str, str] = {}
    for group in hash_order(groups, seed):
        # max of the relative deficit; on a tie the split listed first wins (deterministic)
        name = max(proportions, key=lambda s: (1 - filled[s] / targets[s], -list(proportions).index(s)))
        filled[name] += len(groups[group])
        for member in groups[group]:
            out[member] = name
    return out


def split_record(dataset: str, splits: Mapping[str, str], *, method: str, seed: int) -> dict:
    """A JSON-able description of a split (what a split file holds)."""
    counts = Counter(splits.values())
    return {
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "counts": {name: counts[name] for name in sorted(counts, key=_split_order)},
        "splits": {item: splits[item] for item in sorted(splits)},
    }


def write_split_file(path: str | os.PathLike, record: dict) -> Path:
    """Write a :func:`split_record` atomically."""
    return write_json_atomic(path, record)


def load_split_file(path: str | os.PathLike, item_ids: Iterable[str]) -> dict[str, str]:
    """``{item_id: split}`` for ``item_ids`` from a split file.

    Raises
    ------
    SonorizeInputError
        Unreadable or malformed file, an unknown split name, or listed items missing from it.
    """
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SonorizeInputError(path, "split file does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SonorizeInputError(path, f"split file is not readable JSON ({exc})") from None
    mapping = _mapping_of(path, data)
    bad = sorted({s for s in mapping.values() if s not in KNOWN_SPLITS})
    if bad:
        raise SonorizeInputError(path, f"unknown split names {bad}; use {sorted(KNOWN_SPLITS)}")
    ids = list(item_ids)
    missing = [i for i in ids if i not in mapping]
    if missing:
        raise SonorizeInputError(
            path, f"{len(missing)} item(s) of the dataset are not in the split file, e.g. {missing[:5]}")
    return {i: mapping[i] for i in ids}


def _mapping_of(path: Path, data: object) -> dict[str, str]:
    if isinstance(data, dict) and isinstance(data.get("splits"), dict):
        data = data["splits"]
    elif isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        lists = data
        data = {}
        for name, members in lists.items():
            for member in members:
                if not isinstance(member, str):
                    raise SonorizeInputError(path, f"split {name!r} lists a non-string id {member!r}")
                if data.setdefault(member, name) != name:
                    raise SonorizeInputError(path, f"id {member!r} is in both {data[member]!r} and {name!r}")
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise SonorizeInputError(path, 'expected {"splits": {"<id>": "<split>"}} or {"<split>": ["<id>", ...]}')
    return data


def _split_order(name: str) -> tuple[int, str]:
    order = [*SPLITS, "all"]
    return (order.index(name) if name in order else len(order), name)
