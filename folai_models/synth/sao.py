"""Stable Audio Open 1.0 from its own ``model_config.json``, built with stable-audio-tools' factories.

SAO's text conditioner (``t5``) keeps its encoder outside the module tree, so
``model.safetensors`` holds no T5 weights; FolAI replaces the text prompt by
CLAP and CAVP embeddings anyway. :func:`base_model_config` therefore drops the
text-encoder conditioners and builds everything else exactly as published,
so the published state dict loads strictly (see tests/test_sao_layout.py).
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

SAO_CONFIG_FILE = "stable_audio_open_1_0.json"  # SAO 1.0's model_config.json, as published on its model page
TEXT_CONDITIONER_TYPES = ("t5", "clap_text")  # encoders loaded with from_pretrained, no keys in model.safetensors


def load_config(name: str = SAO_CONFIG_FILE) -> dict[str, Any]:
    """A model config shipped in ``folai_models/synth/configs`` (default: SAO 1.0's)."""
    text = resources.files("folai_models.synth").joinpath("configs", name).read_text(encoding="utf-8")
    return json.loads(text)


def base_model_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without its text-encoder conditioners (and their cross-attention ids).

    Parameters
    ----------
    config : dict
        A stable-audio-tools ``diffusion_cond`` model config.

    Returns
    -------
    dict
        A deep copy; the DiT, VAE and the other conditioners are unchanged.
    """
    config = copy.deepcopy(config)
    model = config["model"]
    conditioning = model.get("conditioning") or {"configs": []}
    dropped = {c["id"] for c in conditioning["configs"] if c["type"] in TEXT_CONDITIONER_TYPES}
    conditioning["configs"] = [c for c in conditioning["configs"] if c["id"] not in dropped]
    diffusion = model["diffusion"]
    for key in ("cross_attention_cond_ids", "global_cond_ids", "prepend_cond_ids", "input_concat_ids"):
        if key in diffusion:
            diffusion[key] = [i for i in diffusion[key] if i not in dropped]
    return config


def create_base_model(config: dict[str, Any]):
    """SAT's ``ConditionedDiffusionModelWrapper`` for ``config`` (text conditioners dropped).

    Its state dict is laid out as SAO's ``model.safetensors``: ``model.model.*``
    (the DiT), ``pretransform.model.*`` (the Oobleck VAE),
    ``conditioner.conditioners.<id>.*`` (the number conditioners).
    """
    from stable_audio_tools.models.factory import create_model_from_config

    return create_model_from_config(base_model_config(config))


def dit_of(base) -> Any:
    """The ``DiffusionTransformer`` inside SAT's wrapper (``base.model.model``)."""
    return base.model.model


def downsampling_ratio(base) -> int:
    return int(base.pretransform.downsampling_ratio) if base.pretransform is not None else 1
