"""LAION-CLAP loads offline from the model store (laion_clap reaches for the hub at import otherwise).

Tiny local stand-ins for the three Hugging Face repositories laion_clap reads
(bert-base-uncased, roberta-base, facebook/bart-base tokenizers; a one-layer
RoBERTa of the real width) and a CLAP checkpoint of laion_clap's own HTSAT-tiny
network with random weights, placed in a temporary store the way
``sonorize models pull NAME --from FILE`` places hand-fetched files.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
if __import__("importlib").util.find_spec("laion_clap") is None:
    pytest.skip("laion_clap not installed", allow_module_level=True)

from data_catalog.model_store import ModelStore  # noqa: E402
from tasks.engines.weights import CLAP_WEIGHTS, FolAIWeightsMissing, load_clap  # noqa: E402
from clap_stand_ins import add_hf_stand_ins, clap_state_dict, hash_free  # noqa: E402


@pytest.fixture(scope="module")
def clap_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("clap-store")
    store = ModelStore(root / "models", registry=hash_free(CLAP_WEIGHTS))
    add_hf_stand_ins(store, root / "staging")
    state = {f"module.{k}": v for k, v in clap_state_dict(store).items()}
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
    store = ModelStore(tmp_path / "empty", registry=hash_free(CLAP_WEIGHTS))
    with pytest.raises(FolAIWeightsMissing) as error:
        load_clap(store)
    for name in CLAP_WEIGHTS:
        assert f"sonorize models pull {name}" in str(error.value)
