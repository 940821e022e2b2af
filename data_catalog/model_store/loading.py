"""Reading weight files into state dicts, safely, and loading them into modules strictly.

Pickles (``.pt``, ``.pth``, ``.ckpt``, ``.bin``) go through ``torch.load(weights_only=True)``:
only tensors and plain containers are rebuilt, no pickled code ever runs. Training
checkpoints also carry metadata objects (a Hydra config, Lightning callback state); for the
module prefixes a registry entry lists in ``inert_globals`` those load as inert placeholders
(their real classes are never imported, constructed or called) and are dropped with the rest
of the container.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_catalog.model_store.errors import (CorruptWeightsError, MissingWeightsError, StateDictMismatchError,
                                             UnsafeWeightsError)

if TYPE_CHECKING:
    import torch

# Where checkpoints nest their weights, most specific first (Lightning, TC-CLIP, PANNs, ...).
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "weights", "params")
SHOW_KEYS = 5  # offending keys listed in an error; the rest are counted
_MAX_PLACEHOLDER_ROUNDS = 32
_GLOBAL_RE = re.compile(r"GLOBAL (\S+) was not an allowed global")
_REFUSAL_MARKERS = ("Weights only load failed", "Unsupported global", "Unsupported operand",
                    "Can only ", "Trying to call reduce", "is blocked")


class _Inert(list):
    """Stand-in for a pickled object outside torch's allowlist: builds nothing, calls nothing.

    A list so that pickle's APPEND opcodes on it succeed; its state is discarded.
    """

    _global = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Inert":
        return list.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        list.__init__(self)

    def __setstate__(self, state: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<inert placeholder for {self._global}>"


class _InertDict:
    """Stand-in for dict subclasses (``defaultdict``, config dicts): constructing it gives a plain
    empty dict, the only type torch lets pickle fill with SETITEMS."""

    def __new__(cls, *args: Any, **kwargs: Any) -> dict:  # type: ignore[misc]
        return {}


# Known from the start; others are found when torch refuses SETITEMS on a list placeholder.
_DICT_LIKE = ("collections.defaultdict",)
_SETITEM_ON_INERT_RE = re.compile(r"SETITEMS? for dict.*but got <class '[^']*Inert\[([^\]]+)\]'>")


def _placeholder(global_name: str, dict_like: bool = False) -> Any:
    if dict_like or global_name in _DICT_LIKE:
        return _InertDict
    return type(f"Inert[{global_name}]", (_Inert,), {"_global": global_name})


def _sniff(path: Path) -> str:
    """What the bytes are: 'zip' / 'pickle' (torch), 'safetensors', or a known wrong thing."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[0] == 0x80:
        return "pickle"
    if head.startswith(b"version https://git-lfs"):
        return "lfs-pointer"
    if len(head) >= 9 and head[8:9] == b"{":  # 8-byte header length, then the JSON header
        return "safetensors"
    if head.lstrip()[:1] == b"<":
        return "html"
    return "unknown"


_WRONG_CONTENT = {
    "empty": "the file is empty",
    "lfs-pointer": "the file is a Git LFS pointer, not the weights",
    "html": "the file is an HTML page (a login or error page saved instead of the weights)",
}


def load_state_dict(path: str | os.PathLike, *, name: str | None = None, key: str | None = None,
                    inert_globals: Sequence[str] = (), strip_prefix: str = "module.") -> dict[str, "torch.Tensor"]:
    """Read a weight file into a flat ``{name: tensor}`` dict on the CPU.

    Parameters
    ----------
    path : path
        A ``.safetensors`` file or a torch pickle (``.pt``, ``.pth``, ``.ckpt``, ``.bin``).
    name : str, optional
        The registry name, so errors can name the command that fetches or re-fetches it.
    key : str, optional
        The entry holding the weights (dotted for nesting, e.g. ``"state_dict"``); by default
        the first of :data:`CONTAINER_KEYS` found, repeatedly, until only tensors remain.
    inert_globals : sequence of str
        Module prefixes (``"omegaconf."``) whose pickled objects may load as inert placeholders.
    strip_prefix : str
        Removed from every key when all keys start with it (``DataParallel``'s ``"module."``).

    Raises
    ------
    MissingWeightsError
        No file at ``path``.
    CorruptWeightsError
        Truncated, damaged or not a weight file at all.
    UnsafeWeightsError
        A pickle holding objects other than tensors (outside ``inert_globals``).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(path, name)
    kind = _sniff(path)
    if kind in _WRONG_CONTENT:
        raise CorruptWeightsError(path, _WRONG_CONTENT[kind], name)
    if path.suffix == ".safetensors" or kind == "safetensors":
        obj: Any = _load_safetensors(path, name)
    else:
        obj = _load_torch(path, tuple(inert_globals), name)
    return unwrap_state_dict(obj, key=key, source=path, strip_prefix=strip_prefix)


def _load_safetensors(path: Path, name: str | None) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:  # truncated, empty or not safetensors at all
        raise CorruptWeightsError(path, f"cannot read it as safetensors ({exc})", name) from exc


def _load_torch(path: Path, inert_globals: tuple[str, ...], name: str | None) -> Any:
    import torch

    placeholders: dict[str, Any] = {}
    for _ in range(_MAX_PLACEHOLDER_ROUNDS):
        try:
            with torch.serialization.safe_globals([(cls, g) for g, cls in placeholders.items()]):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            message = str(exc)
            dict_like = _SETITEM_ON_INERT_RE.search(message)
            if dict_like and dict_like.group(1) in placeholders:
                placeholders[dict_like.group(1)] = _placeholder(dict_like.group(1), dict_like=True)
                continue
            if not any(marker in message for marker in _REFUSAL_MARKERS):
                raise CorruptWeightsError(path, f"cannot unpickle it ({_first_line(message)})", name) from exc
            unsafe = [g for g in _unsafe_globals(path, message) if g not in placeholders]
            refused = [g for g in unsafe if not g.startswith(tuple(inert_globals))]
            if refused or not unsafe:
                raise UnsafeWeightsError(path, _unsafe_reason(refused or unsafe, message, inert_globals)) from exc
            placeholders.update({g: _placeholder(g) for g in unsafe})
        except (RuntimeError, EOFError, ValueError, OSError) as exc:
            raise CorruptWeightsError(path, f"cannot read it as a torch file ({_first_line(str(exc))})", name) from exc
    raise UnsafeWeightsError(path, f"gave up after {_MAX_PLACEHOLDER_ROUNDS} rounds of placeholders")


def _unsafe_globals(path: Path, message: str) -> list[str]:
    """Globals outside torch's allowlist: a static scan of a zip checkpoint, else the error's one."""
    import torch

    found: list[str] = []
    try:
        found = list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except (ValueError, RuntimeError):  # legacy (non-zip) files cannot be scanned; the error names one global
        found = []
    for match in _GLOBAL_RE.findall(message):
        # torch prints builtins without their module ("set"); put it back
        full = match if "." in match else f"builtins.{match}"
        if full not in found:
            found.append(full)
    return found


def _unsafe_reason(names: list[str], message: str, inert_globals: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOW_KEYS]) + (f" and {len(names) - SHOW_KEYS} more" if len(names) > SHOW_KEYS else "")
    what = f"pickled objects that are not tensors ({shown})" if names else f"a pickle torch refuses ({_first_line(message)})"
    allowed = f"; allowed as inert: {', '.join(inert_globals)}" if inert_globals else ""
    return (f"refused: the file holds {what}; weights-only loading never runs pickled code{allowed}. "
            "If this is a known checkpoint whose extra entries are training metadata, add their module "
            "prefixes to its registry entry's inert_globals; otherwise convert it to safetensors")


def _first_line(text: str) -> str:
    """The informative line of an error: torch's unpickler detail when present, else the first line."""
    match = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    if match:
        return match.group(1).strip()[:300]
    return text.strip().splitlines()[0][:300] if text.strip() else "no detail"


def unwrap_state_dict(obj: Any, *, key: str | None = None, source: str | os.PathLike = "",
                      strip_prefix: str = "module.") -> dict[str, "torch.Tensor"]:
    """The flat tensor dict inside a checkpoint container (``{"state_dict": ...}``, ``{"model": ...}``).

    Raises
    ------
    CorruptWeightsError
        No tensor dict found, or one holding non-tensor values (listed).
    """
    import torch

    if key is not None:
        for part in key.split("."):
            if not isinstance(obj, Mapping) or part not in obj:
                have = ", ".join(map(str, list(obj)[:10])) if isinstance(obj, Mapping) else type(obj).__name__
                raise CorruptWeightsError(source, f"no entry {key!r} in the checkpoint (top level: {have})")
            obj = obj[part]
    while isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((k for k in CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            bad = [f"{k} ({type(v).__name__})" for k, v in obj.items() if not isinstance(v, torch.Tensor)]
            raise CorruptWeightsError(
                source, f"not a state dict: {len(bad)} entries are not tensors ({', '.join(bad[:SHOW_KEYS])}); "
                        "pass key=... to pick the entry holding the weights")
        obj = obj[inner]
    if not isinstance(obj, Mapping) or not obj:
        raise CorruptWeightsError(source, f"no tensors found (got {type(obj).__name__})")
    state = {str(k): v for k, v in obj.items()}
    if strip_prefix and all(k.startswith(strip_prefix) for k in state):
        state = {k[len(strip_prefix):]: v for k, v in state.items()}
    return state


def select_prefix(state_dict: Mapping[str, "torch.Tensor"], prefix: str) -> dict[str, "torch.Tensor"]:
    """The entries under ``prefix`` with it removed (a Lightning module's ``"model."`` sub-network)."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def _listing(items: list[str]) -> str:
    more = f", ... ({len(items) - SHOW_KEYS} more)" if len(items) > SHOW_KEYS else ""
    return ", ".join(items[:SHOW_KEYS]) + more


def load_into(module: "torch.nn.Module", state_dict: Mapping[str, "torch.Tensor"], *,
              source: str | os.PathLike) -> "torch.nn.Module":
    """``module.load_state_dict(state_dict, strict=True)`` with an error that says what does not fit.

    Parameters
    ----------
    module : torch.nn.Module
        The network, built at the size the weights were trained at.
    state_dict : mapping of str to tensor
        From :func:`load_state_dict`.
    source : path or str
        The weight file (named in the error).

    Raises
    ------
    StateDictMismatchError
        Missing or unexpected keys, or shapes that differ; lists the first few of each.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [f"{k}: file {list(state_dict[k].shape)} vs model {list(expected[k].shape)}"
              for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {_listing(shapes)}")
    if problems:
        raise StateDictMismatchError(source, f"weights do not fit {type(module).__name__}: " + "; ".join(problems)
                                     + " (wrong checkpoint for this model, a different model size, or a key "
                                       "prefix to strip)")
    try:
        module.load_state_dict(dict(state_dict), strict=True)
    except RuntimeError as exc:  # e.g. dtype/device problems the key check cannot see
        raise StateDictMismatchError(source, f"weights do not fit {type(module).__name__}: "
                                             f"{_first_line(str(exc))}") from exc
    return module
