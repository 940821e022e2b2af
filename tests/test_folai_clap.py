"""LAION-CLAP loads offline from the model store (laion_clap reaches for the hub at import otherwise).

Tiny local stand-ins for the three Hugging Face repositories laion_clap reads
(bert-base-uncased, roberta-base, facebook/bart-base tokenizers; a one-layer
RoBERTa of the real width) and a CLAP checkpoint of laion_clap's own HTSAT-tiny
network with random weights, placed in a temporary store the way
``sonorize models pull NAME --from FILE`` places hand-fetched files.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
if __import__("importlib").util.find_spec("laion_clap") is None:
    pytest.skip("laion_clap not installed", allow_module_level=True)

from data_catalog.model_store import REGISTRY, ModelStore, offline_hf  # noqa: E402
from tasks.folai_synth import CLAP_WEIGHTS, FolAIWeightsMissing, load_clap  # noqa: E402


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


def _hash_free(names) -> dict:
    """Registry entries without published sizes/hashes: the stand-ins are not the published files."""
    def strip(f):
        return dataclasses.replace(f, size=None, sha256=None, sha256_prefix=None, md5=None)
    return {n: dataclasses.replace(REGISTRY[n], files=tuple(strip(f) for f in REGISTRY[n].files)) for n in names}


@pytest.fixture(scope="module")
def clap_store(tmp_path_factory):
    from transformers import BertTokenizer, RobertaConfig, RobertaModel, RobertaTokenizer

    root = tmp_path_factory.mktemp("clap-store")
    store = ModelStore(root / "models", registry=_hash_free(CLAP_WEIGHTS))
    bpe = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", *_bytes_to_unicode(), "<mask>"])}
    for name in ("roberta-base", "bart-base"):
        staging = root / name
        staging.mkdir()
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
    staging = root / "bert"
    staging.mkdir()
    (staging / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghij"]) + "\n")
    BertTokenizer(str(staging / "vocab.txt")).save_pretrained(str(staging))
    (staging / "config.json").write_text(json.dumps({"model_type": "bert"}))
    for wf in store.spec("bert-base-uncased").files:
        store.add_file("bert-base-uncased", staging / wf.filename)

    with offline_hf(store):
        import laion_clap

        module = laion_clap.CLAP_Module(enable_fusion=False, amodel="HTSAT-tiny", tmodel="roberta", device="cpu")
    state = {f"module.{k}": v.clone() for k, v in module.model.state_dict().items()}
    state["module.logit_scale_a"].fill_(3.25)  # a marker that must survive the round trip
    checkpoint = root / "630k-audioset-best.pt"
    torch.save({"epoch": 45, "state_dict": state}, checkpoint)
    store.add_file("laion-clap", checkpoint)
    return store


def test_clap_loads_offline_and_embeds_audio_and_text(clap_store):
    embedder = load_clap(clap_store)
    assert float(embedder.module.model.logit_scale_a) == pytest.approx(3.25)
    audio = embedder.embed_audio(np.random.default_rng(0).standard_normal((2, 2, 22050)).astype(np.float32) * 0.1,
                                 44100)
    text = embedder.embed_text(["a person hits wood with a wooden stick", "metal"])
    assert audio.shape == (2, 512) and text.shape == (2, 512)
    assert torch.allclose(audio.norm(dim=1), torch.ones(2), atol=1e-4)  # CLAP's joint space is L2-normalised


def test_missing_clap_weights_name_their_pull_commands(tmp_path):
    store = ModelStore(tmp_path / "empty", registry=_hash_free(CLAP_WEIGHTS))
    with pytest.raises(FolAIWeightsMissing) as error:
        load_clap(store)
    for name in CLAP_WEIGHTS:
        assert f"sonorize models pull {name}" in str(error.value)
