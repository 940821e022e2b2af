"""Stable Audio Open's text conditioner: the t5-base encoder, built from its config, weights loaded strictly.

stable-audio-tools' ``T5Conditioner`` calls ``from_pretrained("t5-base")`` in
its constructor (a hub download) and keeps the encoder outside the module
tree. :class:`T5TextConditioner` does what it does at inference (tokenize to
``max_length`` with padding, encode, zero the padded positions, return the
embeddings and the mask) with a ``T5EncoderModel`` built from a config and a
tokenizer given to it, so the weights come from the model store and tests
build the same module at a tiny size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import torch
from torch import nn

T5_BASE_CONFIG_FILE = "t5_base.json"  # t5-base's published config.json (the encoder fields)
MAX_LENGTH = 128  # SAO 1.0 model_config.json: the prompt conditioner's max_length
# keys of a full T5 (encoder-decoder) checkpoint that the encoder does not use
DECODER_PREFIXES = ("decoder.", "lm_head.")


def load_t5_config(name: str = T5_BASE_CONFIG_FILE) -> dict[str, Any]:
    """A T5 config shipped in ``folai_models/synth/configs`` (default: t5-base's)."""
    text = resources.files("folai_models.synth").joinpath("configs", name).read_text(encoding="utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def create_t5_encoder(config: Mapping[str, Any]):
    """``transformers.T5EncoderModel`` for a T5 ``config.json`` (random weights), eval mode, frozen."""
    from transformers import T5Config, T5EncoderModel

    fields = {k: v for k, v in config.items() if not k.startswith("_") and k != "architectures"}
    return T5EncoderModel(T5Config(**fields)).eval().requires_grad_(False)


def encoder_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder's part of a published T5 checkpoint (``shared.*``, ``encoder.*``).

    The decoder and LM head are dropped; ``encoder.embed_tokens.weight`` is tied
    to ``shared.weight`` and filled from it where the file stores it once.
    """
    out = {k: v for k, v in state.items() if not k.startswith(DECODER_PREFIXES)}
    if "shared.weight" in out:
        out.setdefault("encoder.embed_tokens.weight", out["shared.weight"])
    return out


class T5TextConditioner(nn.Module):
    """SAO's ``prompt`` conditioner (stable-audio-tools' ``T5Conditioner`` interface).

    Parameters
    ----------
    encoder : transformers.T5EncoderModel
    tokenizer : callable
        A Hugging Face T5 tokenizer.
    output_dim : int
        The DiT's conditioning width; equal to the encoder's (SAO 1.0: 768), so no projection.
    max_length : int
        Tokens per prompt (padded / truncated).
    """

    def __init__(self, encoder, tokenizer, output_dim: int, max_length: int = MAX_LENGTH):
        super().__init__()
        if encoder.config.d_model != output_dim:
            # SAO 1.0 has no projection here (its checkpoint holds none); another width needs trained weights
            raise ValueError(f"T5 width {encoder.config.d_model} != conditioning width {output_dim}")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.dim = self.output_dim = int(output_dim)

    def forward(self, texts: Sequence[str], device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embeddings [batch, max_length, dim], mask [batch, max_length])``; padded positions are zero."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, padding="max_length",
                                 return_tensors="pt")
        input_ids = encoded["input_ids"].to(device)
        mask = encoded["attention_mask"].to(device).bool()
        with torch.no_grad():
            hidden = self.encoder(input_ids=input_ids, attention_mask=mask)["last_hidden_state"]
        return hidden * mask.unsqueeze(-1).to(hidden.dtype), mask
