"""The store's Hugging Face hub-cache layout and the environment that makes libraries use it offline.

Layout (the one ``huggingface_hub`` writes and reads)::

    <model_dir>/hf/hub/models--org--name/refs/main            -> "<commit>"
    <model_dir>/hf/hub/models--org--name/snapshots/<commit>/<file>
    <model_dir>/torch/hub/checkpoints/<file>                   (URL downloads; torch.hub's place)

With :func:`offline_hf_environment` applied, ``from_pretrained("roberta-base")`` (laion_clap,
transformers) and ``hf_hub_download`` resolve from the store and never touch the network.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

COMMIT_RE = re.compile(r"[0-9a-f]{40}")


class _HasRoot(Protocol):
    root: Path


def repo_folder_name(repo_id: str, repo_type: str = "model") -> str:
    """``models--org--name``: huggingface_hub's folder for a repository (same rule, no import)."""
    return "--".join([f"{repo_type}s", *repo_id.split("/")])


def _root(store: _HasRoot | str | os.PathLike) -> Path:
    # a Path has a `.root` too ("/"): only a store object's root counts
    return Path(store) if isinstance(store, (str, os.PathLike)) else Path(store.root)


def hf_home(store: _HasRoot | str | os.PathLike) -> Path:
    """``HF_HOME`` for the store (token, xet and hub cache live under it)."""
    return _root(store) / "hf"


def hf_hub_cache(store: _HasRoot | str | os.PathLike) -> Path:
    """``HF_HUB_CACHE``: the folder holding ``models--*`` repositories."""
    return hf_home(store) / "hub"


def torch_home(store: _HasRoot | str | os.PathLike) -> Path:
    """``TORCH_HOME``: URL downloads lie in its ``hub/checkpoints`` like torch.hub's own."""
    return _root(store) / "torch"


def offline_hf_environment(store: _HasRoot | str | os.PathLike) -> dict[str, str]:
    """Environment variables that point Hugging Face libraries and torch.hub at the store, offline.

    Parameters
    ----------
    store : ModelStore or path
        The store (or its root folder).

    Returns
    -------
    dict of str to str
        ``HF_HOME``, ``HF_HUB_CACHE`` (and its older names ``HUGGINGFACE_HUB_CACHE``,
        ``TRANSFORMERS_CACHE``), ``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``,
        ``HF_DATASETS_OFFLINE=1``, ``HF_HUB_DISABLE_TELEMETRY=1`` and ``TORCH_HOME``.
        Set them before importing laion_clap or transformers (both read them at import).
    """
    cache = str(hf_hub_cache(store))
    return {
        "HF_HOME": str(hf_home(store)),
        "HF_HUB_CACHE": cache,
        "HUGGINGFACE_HUB_CACHE": cache,
        "TRANSFORMERS_CACHE": cache,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TORCH_HOME": str(torch_home(store)),
    }


# Module constants that libraries compute from the environment at import time; patched too
# when the module is already imported, so the context manager works after the import.
_IMPORT_TIME_CONSTANTS = {
    "huggingface_hub.constants": {
        "HF_HOME": "HF_HOME", "HF_HUB_CACHE": "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE": "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE": True,
    },
    "transformers.utils.hub": {"TRANSFORMERS_CACHE": "TRANSFORMERS_CACHE", "_is_offline_mode": True},
}


@contextlib.contextmanager
def offline_hf(store: _HasRoot | str | os.PathLike) -> Iterator[dict[str, str]]:
    """Apply :func:`offline_hf_environment` inside the block, then restore what was there.

    Also patches ``huggingface_hub.constants`` (and ``transformers.utils.hub``) when they are
    already imported, since they copy the environment at import; other libraries that did
    the same need the variables set before their import (a worker's start-up).
    """
    env = offline_hf_environment(store)
    saved_env = {key: os.environ.get(key) for key in env}
    saved_attrs: list[tuple[object, str, object]] = []
    os.environ.update(env)
    try:
        for module_name, attrs in _IMPORT_TIME_CONSTANTS.items():
            module = sys.modules.get(module_name)
            if module is None:
                continue
            for attr, value in attrs.items():
                if hasattr(module, attr):
                    saved_attrs.append((module, attr, getattr(module, attr)))
                    setattr(module, attr, env[value] if isinstance(value, str) else value)
        yield env
    finally:
        for module, attr, old in reversed(saved_attrs):
            setattr(module, attr, old)
        for key, old in saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def resolve_snapshot(repo_dir: Path, revision: str) -> str:
    """The snapshot folder name for ``revision``: itself if a commit, else what ``refs/`` says.

    An unresolved branch (nothing pulled yet) returns the branch name, a placeholder that
    only shows in messages.
    """
    if COMMIT_RE.fullmatch(revision):
        return revision
    ref = repo_dir / "refs" / revision
    try:
        text = ref.read_text().strip()
    except OSError:
        return revision
    return text or revision


def write_ref(repo_dir: Path, ref: str, commit: str) -> None:
    """Point ``refs/<ref>`` at ``commit`` (how ``from_pretrained(..., revision="main")`` finds it)."""
    path = repo_dir / "refs" / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_text() == commit:
        return
    tmp = path.with_name(f".{ref}.tmp")
    tmp.write_text(commit)  # no trailing newline: huggingface_hub reads the file verbatim
    os.replace(tmp, path)


def env_lines(env: Mapping[str, str]) -> list[str]:
    """``export KEY=value`` lines for a shell."""
    import shlex

    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
