"""Tiny stand-ins for Stable Audio Open with its T5 prompt encoder: same builders, tiny configs, random weights.

``tiny_t5_tokenizer`` is a word-level T5 tokenizer over a few words (t5-base's
special ids: pad 0, eos 1, unk 2); ``add_tiny_sao_to_store`` saves the tiny
model's weights the way the published files are laid out (SAO's
``model.safetensors`` + ``model_config.json``; t5-base's encoder-decoder
``model.safetensors``, ``config.json`` and ``tokenizer.json``) and adds them to a
model store as ``sonorize models pull NAME --from FILE`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDS = ("a", "rubber", "ball", "bouncing", "on", "wooden", "floor", "footsteps", "gravel", "glass", "metal")


def tiny_t5_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import T5TokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return T5TokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                           extra_ids=0)


def tiny_sao_text_model(seed: int = 0):
    """The tiny SAO-layout model with a tiny T5, every zero-initialised output filled (like trained weights)."""
    import torch

    from folai_models.synth import sao
    from folai_models.synth.audio_to_audio import create_sao_text_model
    from folai_models.synth.t5_conditioner import load_t5_config

    torch.manual_seed(seed)
    model = create_sao_text_model(sao.load_config("tiny_oobleck.json"), load_t5_config("tiny_t5.json"),
                                  tiny_t5_tokenizer())
    with torch.no_grad():
        for param in model.model.parameters():  # stable-audio-tools zero-initialises branch outputs
            if not param.any():
                param.normal_(0.0, 0.02)
    return model


def add_tiny_sao_to_store(store, staging: Path, seed: int = 0) -> None:
    """Put a tiny SAO (``stable-audio-open``) and tiny t5-base (``t5-base``) into ``store``."""
    from safetensors.torch import save_file

    from folai_models.synth import sao
    from folai_models.synth.audio_to_audio import text_encoder_prefix
    from folai_models.synth.t5_conditioner import load_t5_config

    model = tiny_sao_text_model(seed)
    staging.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    prefix = text_encoder_prefix()
    sao_state = {k: v for k, v in state.items() if not k.startswith(prefix)}
    # as published: t5-base's file is the whole encoder-decoder, its embedding stored once
    t5_state = {k[len(prefix):]: v.clone() for k, v in state.items()
                if k.startswith(prefix) and k != prefix + "encoder.embed_tokens.weight"}
    t5_state["decoder.final_layer_norm.weight"] = t5_state["encoder.final_layer_norm.weight"].clone()
    save_file(sao_state, str(staging / "model.safetensors"))
    (staging / "model_config.json").write_text(json.dumps(sao.load_config("tiny_oobleck.json")))
    t5_dir = staging / "t5"
    t5_dir.mkdir(exist_ok=True)
    save_file(t5_state, str(t5_dir / "model.safetensors"))
    tiny_t5_tokenizer().save_pretrained(str(t5_dir))
    (t5_dir / "config.json").write_text(json.dumps(load_t5_config("tiny_t5.json")))
    (t5_dir / "spiece.model").write_bytes(b"")  # the word-level stand-in needs no SentencePiece model
    for name, folder in (("stable-audio-open", staging), ("t5-base", t5_dir)):
        for wf in store.spec(name).files:
            store.add_file(name, folder / wf.filename)


def add_tiny_sao_base_to_store(store, staging: Path, seed: int = 0) -> None:
    """Put a tiny SAO (``stable-audio-open`` only: weights + ``model_config.json``) into ``store``, as a user
    adds hand-fetched files (``sonorize models pull stable-audio-open --from FILE``)."""
    import torch
    from safetensors.torch import save_file

    from folai_models.synth import sao

    config = sao.load_config("tiny_oobleck.json")
    torch.manual_seed(seed)
    base = sao.create_base_model(config)
    staging.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in base.state_dict().items()}, str(staging / "model.safetensors"))
    (staging / "model_config.json").write_text(json.dumps(config))
    store.add_file("stable-audio-open", staging / "model.safetensors")
    store.add_file("stable-audio-open", staging / "model_config.json")
