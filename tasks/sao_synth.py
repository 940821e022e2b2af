"""The sao synth engine's weights: Stable Audio Open 1.0 and its t5-base prompt encoder, from the model store.

Nothing downloads here. What is missing is reported all at once, one line per
file, each with the command that fetches it.
"""

from __future__ import annotations

import json
from functools import lru_cache

from data_catalog.model_store import ModelStore, offline_hf
from tasks.folai_synth import SAO_WEIGHT, SynthWeightsMissing, missing_sao_weights, store_sao_config

T5_WEIGHT = "t5-base"  # the model store entry of SAO's prompt encoder
SAO_TEXT_WEIGHTS = (SAO_WEIGHT, T5_WEIGHT)


class SAOWeightsMissing(SynthWeightsMissing):
    engine = "sao"


def require_sao_text_weights(store: ModelStore | None = None) -> None:
    """Raise :class:`SAOWeightsMissing` naming every missing file and its ``sonorize models pull`` command."""
    problems = missing_sao_weights(store or ModelStore(), SAO_TEXT_WEIGHTS)
    if problems:
        raise SAOWeightsMissing(problems)


def _t5_file(store: ModelStore, filename: str):
    return [p for p in store.paths(T5_WEIGHT) if p.name == filename][0]


def load_t5_tokenizer(store: ModelStore):
    """t5-base's tokenizer from the store's copy of its repository (``tokenizer.json``), offline."""
    from transformers import T5TokenizerFast

    with offline_hf(store):
        return T5TokenizerFast(tokenizer_file=str(_t5_file(store, "tokenizer.json")))


@lru_cache(maxsize=1)
def load_sao_text_model(root: str, device: str):
    """SAO 1.0 + t5-base from the store at ``root`` (strict), eval mode on ``device`` (bf16 on CUDA); once per process."""
    import torch

    from data_catalog.model_store import StateDictMismatchError
    from folai_models.synth.audio_to_audio import create_sao_text_model, load_sao_text_weights

    store = ModelStore(root)
    require_sao_text_weights(store)
    t5_config = json.loads(_t5_file(store, "config.json").read_text(encoding="utf-8"))
    with torch.device("meta"):  # no random initialisation of 1.3 B parameters: the weights replace them
        model = create_sao_text_model(store_sao_config(store), t5_config, load_t5_tokenizer(store))
    try:
        load_sao_text_weights(model, store.load_state_dict(SAO_WEIGHT), store.load_state_dict(T5_WEIGHT),
                              assign=True)
    except RuntimeError as error:
        raise StateDictMismatchError(store.path(SAO_WEIGHT), "Stable Audio Open and t5-base do not load into the "
                                     f"model built from their configs ({str(error)[:500]})") from None
    left = [k for k, v in [*model.named_parameters(), *model.named_buffers()] if v.is_meta]
    if left:
        raise StateDictMismatchError(store.path(SAO_WEIGHT), f"no weights for {left[:5]}")
    dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return model.to(device=device, dtype=dtype).eval()
