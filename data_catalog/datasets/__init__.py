"""Dataset adapters: one small class per dataset behind :class:`DatasetAdapter`.

>>> adapter = get_dataset_adapter("greatest-hits")
>>> items = adapter.items("/data/GreatestHits/vis-data")   # DatasetItem per video, split set
>>> adapter.chunks(items[0], duration_s=30.0)               # 10 s chunks with their prompts

``DATASETS`` maps each name to its class (names are also cache folder names, so they
use ``-``; ``greatest_hits`` and ``walking_the_maps`` are accepted too); options (``split_file``, ``seed``,
the folder adapter's ``labels`` / ``holdout_fraction`` ...) are keyword
arguments of :func:`get_dataset_adapter`.
"""

from __future__ import annotations

from data_catalog.datasets.base import Chunk, DatasetAdapter, DatasetItem, Hit
from data_catalog.datasets.folder import FolderAdapter
from data_catalog.datasets.greatest_hits import GreatestHitsAdapter
from data_catalog.datasets.walking_the_maps import WalkingTheMapsAdapter
from data_catalog.errors import OptionError

DATASETS: dict[str, type[DatasetAdapter]] = {
    GreatestHitsAdapter.name: GreatestHitsAdapter,
    WalkingTheMapsAdapter.name: WalkingTheMapsAdapter,
    "folder": FolderAdapter,
}


def get_dataset_adapter(name: str, /, **options) -> DatasetAdapter:
    """A new adapter for dataset ``name`` with ``options``.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones) or an invalid option.
    """
    try:
        cls = DATASETS[name.replace("_", "-") if isinstance(name, str) else name]
    except KeyError:
        raise OptionError(f"unknown dataset {name!r}; available: {', '.join(sorted(DATASETS))}") from None
    try:
        return cls(**options)
    except TypeError as exc:  # an option this adapter does not have
        raise OptionError(f"dataset {name!r}: {exc}") from None


__all__ = [
    "DATASETS",
    "Chunk",
    "DatasetAdapter",
    "DatasetItem",
    "FolderAdapter",
    "GreatestHitsAdapter",
    "Hit",
    "WalkingTheMapsAdapter",
    "get_dataset_adapter",
]
