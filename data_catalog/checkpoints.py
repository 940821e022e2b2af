"""Model checkpoints on disk: safetensors weights plus a JSON sidecar (Video2RMS, the ControlNet).

Files for ``path = ckpt/best.safetensors``:

- ``ckpt/best.safetensors``: the model's ``state_dict`` (weights and BatchNorm
  statistics), nothing else, so any safetensors reader can open it.
- ``ckpt/best.optim.safetensors`` (only when an optimizer is given): the
  optimizer's ``state_dict`` flattened: each per-parameter tensor stored as
  ``state.<param index>.<name>`` (Adam: ``step``, ``exp_avg``, ``exp_avg_sq``),
  the ``param_groups`` and any non-tensor state as JSON in the file's metadata.
  :func:`load_optimizer_state` restores it for resuming.
- ``ckpt/best.json``: the model's class name and config (its ``to_dict()``),
  epoch, metrics, ``extra`` and the sha256 of each safetensors file.

Every file is written atomically (temporary ``.tmp`` file, then rename); the
JSON goes last and its hashes tie the set together, so a half-updated or
edited checkpoint is refused on load rather than silently mixed.

This module stores and verifies; it never builds a model (each model builds
itself from the state and sidecar :func:`load_checkpoint_state` returns, e.g.
``Video2RMS.from_checkpoint(state, meta)``). torch and safetensors are
imported on use, so importing this module stays light.

ONNX export (Video2RMS, for inference without PyTorch), beside the checkpoint:

- ``ckpt/best.onnx``: the graph (:mod:`folai_models.video2rms.onnx_export`).
- ``ckpt/best.onnx.json``: its sha256 and the sha256 of the weights and of the
  config it was exported from (:func:`save_onnx_export`). :func:`load_onnx_export`
  refuses a graph whose hash or source does not match: a stale export (the
  checkpoint was retrained or edited since) is never run in its place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from data_catalog.atomic import atomic_path, write_json_atomic
from data_catalog.errors import CheckpointError, OptionError
from data_catalog.hashing import sha256_file

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "ONNX_FORMAT",
    "CheckpointError",
    "sidecar_path",
    "optimizer_path",
    "onnx_path",
    "onnx_sidecar_path",
    "save_checkpoint",
    "load_optimizer_state",
    "load_checkpoint_state",
    "load_checkpoint_meta",
    "save_onnx_export",
    "load_onnx_export",
]

CHECKPOINT_FORMAT = "sonorize-video2rms-checkpoint"  # "format" key of the JSON sidecar
CHECKPOINT_VERSION = 1  # bump when the file layout changes
ONNX_FORMAT = "sonorize-onnx-export"  # "format" key of an ONNX export's sidecar
ONNX_VERSION = 1


def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar of weights file ``path`` (``best.safetensors`` -> ``best.json``)."""
    return Path(path).with_suffix(".json")


def optimizer_path(path: str | os.PathLike) -> Path:
    """The optimizer file of weights file ``path`` (-> ``best.optim.safetensors``)."""
    return Path(path).with_suffix(".optim.safetensors")


def onnx_path(path: str | os.PathLike) -> Path:
    """The ONNX export of weights file ``path`` (-> ``best.onnx``)."""
    return Path(path).with_suffix(".onnx")


def onnx_sidecar_path(path: str | os.PathLike) -> Path:
    """The sidecar of the ONNX export of weights file ``path`` (-> ``best.onnx.json``)."""
    return Path(path).with_suffix(".onnx.json")


def _flatten_optimizer(state_dict: dict) -> tuple[dict, dict[str, str]]:
    import torch

    tensors, scalars = {}, {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    metadata = {
        "param_groups": json.dumps(state_dict["param_groups"]),
        "scalars": json.dumps(scalars),
    }
    return tensors, metadata


def save_checkpoint(
    path: str | os.PathLike,
    model,
    config,
    *,
    optimizer=None,
    epoch: int,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint (weights, optional optimizer state, JSON sidecar) atomically.

    Parameters
    ----------
    path : path ending in ``.safetensors``
        The weights file; the sidecar and optimizer file go beside it.
    model : torch.nn.Module
        Its ``state_dict`` is saved (moved to CPU).
    config : a model config with ``to_dict()``
        Stored in the sidecar; the model rebuilds itself from it (``from_checkpoint``).
    optimizer : torch.optim.Optimizer, optional
    epoch : int
        Epochs completed.
    metrics, extra : dict, optional
        JSON-serialisable; non-finite floats become null.

    Returns
    -------
    Path
        ``path``.
    """
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise OptionError(f"checkpoint path must end in .safetensors, got {path}")
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    record: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": type(model).__name__,
        "weights_file": path.name,
        "weights_sha256": sha256_file(path),
        "optimizer_file": None,
        "optimizer_sha256": None,
        "config": config.to_dict(),
        "epoch": int(epoch),
        "metrics": dict(metrics or {}),
        "extra": dict(extra or {}),
        "torch_version": torch.__version__,
    }
    if optimizer is not None:
        tensors, metadata = _flatten_optimizer(optimizer.state_dict())
        optim_file = optimizer_path(path)
        with atomic_path(optim_file) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
        record.update(optimizer_file=optim_file.name, optimizer_sha256=sha256_file(optim_file))
    write_json_atomic(sidecar_path(path), record)
    return path


def _read_sidecar(path: Path) -> dict:
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise CheckpointError(sidecar, f"checkpoint sidecar is missing; it is required to load {path.name} "
                                       "(it holds the model config and the weights' sha256)")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(sidecar, f"checkpoint sidecar is not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(sidecar, f"not a {CHECKPOINT_FORMAT} sidecar")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(sidecar, f"checkpoint version {meta.get('version')!r} is not "
                                       f"{CHECKPOINT_VERSION}, the one this sonorize reads")
    return meta


def _verify(file: Path, expected: str | None, sidecar: Path) -> None:
    if not file.is_file():
        raise CheckpointError(file, "checkpoint file is missing")
    actual = sha256_file(file)
    if actual != expected:
        raise CheckpointError(
            file, f"sha256 {actual[:12]}... does not match {str(expected)[:12]}... recorded in {sidecar.name}: "
                  "the file was modified, damaged or belongs to another checkpoint"
        )


def load_checkpoint_meta(path: str | os.PathLike, *, model: str | None = None) -> dict:
    """The sidecar of a checkpoint whose weights file matches its recorded sha256 (no torch needed).

    Raises :class:`CheckpointError` as :func:`load_checkpoint_state` does.
    """
    path = Path(path)
    meta = _read_sidecar(path)
    if model is not None and meta.get("model") != model:
        raise CheckpointError(path, f"this is a checkpoint of {meta.get('model')!r}, not of {model!r}")
    _verify(path, meta.get("weights_sha256"), sidecar_path(path))
    return meta


def update_checkpoint_extra(path: str | os.PathLike, updates: dict[str, Any]) -> dict:
    """Add or replace keys of a verified checkpoint's ``extra`` (its sidecar rewritten atomically).

    For what is measured after training (calibrations on held-out videos);
    the weights and config are untouched, so an ONNX export stays valid.
    Returns the new sidecar.
    """
    path = Path(path)
    meta = load_checkpoint_meta(path)
    meta["extra"] = {**meta.get("extra", {}), **updates}
    write_json_atomic(sidecar_path(path), meta)
    return meta


def _config_sha256(meta: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(meta.get("config"), sort_keys=True).encode("utf-8")).hexdigest()


def save_onnx_export(path: str | os.PathLike, graph: bytes, *, exporter: dict[str, Any]) -> Path:
    """Write the ONNX export ``graph`` of checkpoint ``path`` and its sidecar, atomically.

    Parameters
    ----------
    path : the checkpoint's ``.safetensors`` weights (verified first)
    graph : the serialised ONNX model
    exporter : how it was made (tool versions, opset), kept in the sidecar

    Returns
    -------
    Path
        The ``.onnx`` file.
    """
    path = Path(path)
    meta = load_checkpoint_meta(path)
    target = onnx_path(path)
    with atomic_path(target) as tmp:
        tmp.write_bytes(graph)
    record = {
        "format": ONNX_FORMAT,
        "version": ONNX_VERSION,
        "model": meta.get("model"),
        "onnx_file": target.name,
        "onnx_sha256": sha256_file(target),
        "checkpoint_file": path.name,
        "checkpoint_weights_sha256": meta.get("weights_sha256"),
        "checkpoint_config_sha256": _config_sha256(meta),
        "exporter": dict(exporter),
    }
    write_json_atomic(onnx_sidecar_path(path), record)
    return target


def load_onnx_export(path: str | os.PathLike, *, model: str | None = None) -> tuple[Path, dict]:
    """The verified ONNX export of checkpoint ``path`` and the checkpoint's sidecar.

    Verified: the checkpoint (as :func:`load_checkpoint_meta`), the graph's sha256 against its
    sidecar, and that the sidecar names this checkpoint's weights and config (else it is stale).

    Raises
    ------
    CheckpointError
        No export, a missing or invalid sidecar, a modified graph, or a graph exported from other
        weights or another config (names the file).
    """
    path = Path(path)
    meta = load_checkpoint_meta(path, model=model)
    graph, sidecar = onnx_path(path), onnx_sidecar_path(path)
    if not graph.is_file():
        raise CheckpointError(graph, "no ONNX export of this checkpoint (sonorize export-onnx makes one)")
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(sidecar, f"the sidecar of {graph.name} is missing (sonorize export-onnx "
                                       "rewrites both)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(sidecar, f"ONNX export sidecar is not valid JSON ({error})") from None
    if not isinstance(record, dict) or record.get("format") != ONNX_FORMAT or record.get("version") != ONNX_VERSION:
        raise CheckpointError(sidecar, f"not a {ONNX_FORMAT} version {ONNX_VERSION} sidecar")
    _verify(graph, record.get("onnx_sha256"), sidecar)
    if (record.get("checkpoint_weights_sha256") != meta.get("weights_sha256")
            or record.get("checkpoint_config_sha256") != _config_sha256(meta)):
        raise CheckpointError(graph, f"exported from other weights or another config than {path.name} "
                                     "(stale: sonorize export-onnx makes it again)")
    return graph, meta


def load_checkpoint_state(path: str | os.PathLike, *, map_location: str = "cpu", model: str | None = None):
    """The verified tensors and sidecar of a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : path of the ``.safetensors`` weights
    map_location : device for the tensors
    model : the class name the sidecar must record (``"Video2RMS"``, ``"ControlNetWeights"``), so a
        checkpoint of another model is refused with a clear error; None accepts any.

    Returns
    -------
    (state_dict, meta)
        The model rebuilds itself from them (``Video2RMS.from_checkpoint(state, meta)``).

    Raises
    ------
    CheckpointError
        Missing or invalid sidecar, missing weights, sha256 mismatch, another model's
        checkpoint, unreadable weights (names the file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta = load_checkpoint_meta(path, model=model)
    try:
        state = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(path, f"weights do not read ({error})") from None
    return state, meta


def load_optimizer_state(path: str | os.PathLike, optimizer, *, map_location: str = "cpu") -> None:
    """Restore the optimizer state saved with checkpoint ``path`` into ``optimizer`` (to resume).

    ``optimizer`` must be built over the same model parameters, in the same
    order. Raises :class:`CheckpointError` when no optimizer state was saved
    or its hash does not match the sidecar.
    """
    from safetensors import safe_open

    path = Path(path)
    meta = _read_sidecar(path)
    if not meta.get("optimizer_file"):
        raise CheckpointError(path, "this checkpoint was saved without optimizer state")
    optim_file = path.with_name(meta["optimizer_file"])
    _verify(optim_file, meta.get("optimizer_sha256"), sidecar_path(path))
    state: dict[int, dict[str, Any]] = {}
    with safe_open(str(optim_file), framework="pt", device=str(map_location)) as handle:
        metadata = handle.metadata() or {}
        for key in handle.keys():
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = handle.get_tensor(key)
    for key, value in json.loads(metadata.get("scalars", "{}")).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(metadata["param_groups"])})
    except (KeyError, ValueError) as error:
        raise CheckpointError(optim_file, f"optimizer state does not fit this optimizer ({error})") from None
