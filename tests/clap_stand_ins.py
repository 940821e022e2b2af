"""Tiny local stand-ins for what laion_clap reads from Hugging Face, placed in a test model store.

The three repositories laion_clap reads (bert-base-uncased, roberta-base and
facebook/bart-base tokenizers, and a one-layer RoBERTa of the real width 768,
which CLAP's text projection expects), added the way ``sonorize models pull
NAME --from FILE`` places hand-fetched files, and the state dict of
laion_clap's own CLAP network built against them with random weights.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from data_catalog.model_store import REGISTRY, ModelStore, offline_hf

HF_STAND_INS = ("roberta-base", "bert-base-uncased", "bart-base")


def _bytes_to_unicode() -> list[str]:
    """GPT-2's byte -> printable character table (byte-level BPE's alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def hash_free(names) -> dict:
    """Registry entries without published sizes/hashes: the stand-ins are not the published files."""
    def strip(f):
        return dataclasses.replace(f, size=None, sha256=None, sha256_prefix=None, md5=None)
    return {n: dataclasses.replace(REGISTRY[n], files=tuple(strip(f) for f in REGISTRY[n].files)) for n in names}


def add_hf_stand_ins(store: ModelStore, staging_root: Path) -> None:
    """Put the three tokenizer repositories (and a one-layer RoBERTa) into ``store``."""
    from transformers import BertTokenizer, RobertaConfig, RobertaModel, RobertaTokenizer

    bpe = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", *_bytes_to_unicode(), "<mask>"])}
    for name in ("roberta-base", "bart-base"):
        staging = staging_root / name
        staging.mkdir(parents=True)
        (staging / "vocab.json").write_text(json.dumps(bpe))
        (staging / "merges.txt").write_text("#version: 0.2\n")
        (staging / "config.json").write_text(json.dumps({"model_type": name.split("-")[0]}))
        if name == "roberta-base":
            RobertaTokenizer(str(staging / "vocab.json"), str(staging / "merges.txt")).save_pretrained(str(staging))
            config = RobertaConfig(vocab_size=len(bpe), hidden_size=768, num_hidden_layers=1, num_attention_heads=12,
                                   intermediate_size=64, max_position_embeddings=80, type_vocab_size=1)
            RobertaModel(config).save_pretrained(str(staging))  # CLAP's text projection expects width 768
        for wf in store.spec(name).files:
            store.add_file(name, staging / wf.filename)
    staging = staging_root / "bert"
    staging.mkdir(parents=True)
    (staging / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghij"]) + "\n")
    BertTokenizer(str(staging / "vocab.txt")).save_pretrained(str(staging))
    (staging / "config.json").write_text(json.dumps({"model_type": "bert"}))
    for wf in store.spec("bert-base-uncased").files:
        store.add_file("bert-base-uncased", staging / wf.filename)


def clap_state_dict(store: ModelStore, audio_model: str = "HTSAT-tiny") -> dict:
    """Random weights of laion_clap's CLAP (``audio_model`` + the stand-in RoBERTa), as its checkpoints key them."""
    with offline_hf(store):
        import laion_clap

        module = laion_clap.CLAP_Module(enable_fusion=False, amodel=audio_model, tmodel="roberta", device="cpu")
    return {k: v.clone() for k, v in module.model.state_dict().items()}
