"""Weights that ship inside a PyPI wheel: found in the installed package, loaded weights-only.

aiSFX (Ma & Lerch, "Representation Learning for the Automatic Indexing of Sound Effects
Libraries", ISMIR 2022; model CC-BY 4.0) ships ``aisfx/models/checkpoint.pth`` in the
``aisfx`` wheel: no hub, so it loads here, in CI and at night. The wheel's own pins
(librosa 0.9.2, numpy 1.23) are stale, so it is installed with ``--no-deps`` and never
imported: only its data file is read.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_catalog.model_store.errors import ModelStoreError, UnsafeWeightsError

if TYPE_CHECKING:
    import torch

AISFX_PACKAGE = "aisfx"
AISFX_REQUIREMENT = "aisfx==0.1.2"
AISFX_CHECKPOINT = ("models", "checkpoint.pth")
AISFX_INSTALL = f"pip install --no-deps {AISFX_REQUIREMENT}"


class PackagedWeightsMissing(ModelStoreError):
    """The package that ships a weight file is not installed."""


class PackagedWeightsCorrupt(ModelStoreError):
    """A packaged weight file that cannot be read as the checkpoint it should be."""

    def __init__(self, path: str | os.PathLike, detail: str):
        super().__init__(path, f"{detail}; if it is the installed aisfx wheel's, reinstall it: "
                               f"`pip install --no-deps --force-reinstall {AISFX_REQUIREMENT}`")


def aisfx_checkpoint_path() -> Path:
    """Where the installed ``aisfx`` wheel keeps its checkpoint (the package is not imported).

    Raises
    ------
    PackagedWeightsMissing
        ``aisfx`` is not installed, or its checkpoint is missing.
    """
    spec = importlib.util.find_spec(AISFX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PackagedWeightsMissing(
            None, f"the aiSFX weights (FAD-SFX) ship inside the {AISFX_REQUIREMENT} wheel, which is not "
                  f"installed: `{AISFX_INSTALL}` (or `bash setup.sh test`)")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*AISFX_CHECKPOINT)
    if not path.is_file():
        raise PackagedWeightsMissing(path, f"the installed aisfx package has no checkpoint; reinstall it: "
                                           f"`pip install --no-deps --force-reinstall {AISFX_REQUIREMENT}`")
    return path


def _aisfx_allowed_globals() -> list:
    """Exactly the non-tensor globals aisfx's pickle holds: its ``ds_dict`` head indices are numpy
    int64 scalars (``numpy.core.multiarray.scalar`` with an int64 ``numpy.dtype``). The scalar
    constructor is allowed under its numpy 1 name (the published file) and its numpy 2 name
    (``numpy._core``: a file re-saved under numpy 2); nothing else."""
    import numpy as np

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    allowed = [(multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType]
    if hasattr(np, "_core"):
        allowed.append((multiarray.scalar, "numpy._core.multiarray.scalar"))
    return allowed


_ALLOWED_NAMES = {"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
                  "numpy.dtypes.Int64DType"}


def load_aisfx_checkpoint(path: str | os.PathLike | None = None) -> tuple[dict[str, "torch.Tensor"],
                                                                         dict[str, tuple[int, int]]]:
    """Read aiSFX's ``(state_dict, ds_dict)`` with ``torch.load(weights_only=True)``.

    Parameters
    ----------
    path : path, optional
        The checkpoint; by default the installed wheel's (:func:`aisfx_checkpoint_path`).

    Returns
    -------
    state_dict : dict of str to torch.Tensor
    ds_dict : dict of str to (int, int)
        Training library -> (classifier head index, number of classes), as plain ints.

    Raises
    ------
    PackagedWeightsMissing
        No path given and aisfx is not installed.
    UnsafeWeightsError
        The pickle holds a global outside the allow-list (never executed).
    PackagedWeightsCorrupt
        Unreadable, or not a ``(state_dict, ds_dict)`` pair.
    """
    import torch

    path = Path(path) if path is not None else aisfx_checkpoint_path()
    if not path.is_file():
        raise PackagedWeightsMissing(path, f"no such checkpoint file (install `{AISFX_REQUIREMENT}` with --no-deps)")
    if not zipfile.is_zipfile(path):
        raise PackagedWeightsCorrupt(path, "not a torch checkpoint (torch.save's zip format)")
    try:
        with torch.serialization.safe_globals(_aisfx_allowed_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        extra = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) if g not in _ALLOWED_NAMES]
        what = ", ".join(extra) if extra else _detail(exc)  # a type only met when building (a dtype class)
        raise UnsafeWeightsError(path, f"refused: the pickle holds objects outside aiSFX's allow-list ({what}); "
                                       "weights-only loading never runs pickled code") from exc
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise PackagedWeightsCorrupt(path, f"cannot read it as a torch file ({_detail(exc)})") from exc
    return _split_checkpoint(obj, path)


def _detail(exc: Exception) -> str:
    """torch's unpickler detail when present, else the first line of the error."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else type(exc).__name__


def _split_checkpoint(obj: Any, path: Path) -> tuple[dict, dict[str, tuple[int, int]]]:
    import torch

    if not (isinstance(obj, (tuple, list)) and len(obj) == 2 and isinstance(obj[0], dict)
            and isinstance(obj[1], dict)):
        raise PackagedWeightsCorrupt(path, f"not an aiSFX checkpoint: expected a (state_dict, ds_dict) pair, "
                                        f"got {type(obj).__name__}")
    state_dict, ds_dict = obj
    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise PackagedWeightsCorrupt(path, f"not an aiSFX checkpoint: state_dict entries that are not tensors: "
                                        f"{', '.join(map(str, bad[:5]))}")
    try:
        heads = {str(name): (int(index), int(n_classes)) for name, (index, n_classes) in ds_dict.items()}
    except (TypeError, ValueError) as exc:
        raise PackagedWeightsCorrupt(path, "not an aiSFX checkpoint: ds_dict values must be "
                                        "(head index, number of classes) pairs") from exc
    return {str(k): v for k, v in state_dict.items()}, heads
