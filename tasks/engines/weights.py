"""The neural synth engines' weights, from the model store: what is missing, and the loaders.

``folai``: Stable Audio Open plus a trained envelope ControlNet (and CLAP, CAVP
for its conditions); ``sao``: Stable Audio Open 1.0 with its t5-base prompt
encoder. Nothing downloads here. What is missing is reported all at once, one
line per file, each with the command that fetches or makes it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from data_catalog.errors import WeightsError
from data_catalog.model_store import (CorruptWeightsError, MissingWeightsError, ModelStore, ModelStoreError,
                                      offline_hf, pull_command)

SAO_WEIGHT = "stable-audio-open"  # the model store entry of Stable Audio Open 1.0
T5_WEIGHT = "t5-base"  # the model store entry of SAO's prompt encoder
SAO_TEXT_WEIGHTS = (SAO_WEIGHT, T5_WEIGHT)
# LAION-CLAP and the three Hugging Face repositories laion_clap reads at import and construction
CLAP_WEIGHTS = ("laion-clap", "roberta-base", "bert-base-uncased", "bart-base")
CAVP_WEIGHT = "cavp"  # Diff-Foley's cavp_epoch66.ckpt
CONTROLNET_MODEL = "ControlNetWeights"  # class name recorded in a ControlNet checkpoint's sidecar


class SynthWeightsMissing(WeightsError):
    """A neural synth engine cannot run: names every missing piece and how to get it."""

    engine = "neural"

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(None, f"the {self.engine} synth engine needs weights that are not here:\n  - " +
                         "\n  - ".join(problems) + "\n(or run with the preview synth engine)")


class FolAIWeightsMissing(SynthWeightsMissing):
    engine = "folai"


class SAOWeightsMissing(SynthWeightsMissing):
    engine = "sao"


def default_controlnet_checkpoint() -> Path:
    """``SONORIZE_FOLAI_CONTROLNET_CHECKPOINT``, else ``<model_dir>/folai-controlnet/best.safetensors``."""
    from data_catalog.settings import get_settings

    settings = get_settings()
    return Path(settings.folai_controlnet_checkpoint or settings.model_dir / "folai-controlnet" / "best.safetensors")


def missing_folai_weights(checkpoint: str | Path | None = None, store: ModelStore | None = None) -> list[str]:
    """What the folai engine lacks (empty when it can run): one line per missing piece."""
    store = store or ModelStore()
    problems = missing_sao_weights(store)
    checkpoint = Path(checkpoint) if checkpoint else default_controlnet_checkpoint()
    if not checkpoint.is_file():
        problems.append(f"{checkpoint}: no trained ControlNet checkpoint; train one with "
                        "`sonorize train-controlnet DATASET --out DIR` and point SONORIZE_FOLAI_CONTROLNET_CHECKPOINT "
                        "at DIR/best.safetensors (FolAI's authors publish no weights)")
    elif _trained_with_cavp(checkpoint):
        try:
            store.require(CAVP_WEIGHT)
        except ModelStoreError as error:
            problems.append(f"{error} [`{pull_command(CAVP_WEIGHT)}`] (this ControlNet was trained with CAVP "
                            "video conditioning)")
    return problems


def missing_sao_weights(store: ModelStore, names: tuple[str, ...] = (SAO_WEIGHT,)) -> list[str]:
    """stable-audio-tools, and each of ``names`` in the store: one line per missing piece, with its command."""
    problems = []
    try:
        import stable_audio_tools  # noqa: F401
    except ImportError:
        problems.append("stable-audio-tools is not installed: `bash setup.sh synth` "
                        "(or pip install -e '.[synth]' then stable-audio-tools==0.0.19 and k-diffusion==0.1.1 "
                        "with --no-deps)")
    for name in names:  # every missing or damaged file, not only an entry's first
        for check in store.check(name):
            if check.status == "missing":
                problems.append(str(MissingWeightsError(check.path, name)))  # names the file and its pull command
            elif check.status == "corrupt":
                problems.append(str(CorruptWeightsError(check.path, check.reason, name)))
    return problems


def _trained_with_cavp(checkpoint: Path) -> bool:
    """Whether a ControlNet checkpoint's sidecar records CAVP conditioning (unreadable: the loader will say)."""
    from data_catalog.checkpoints import sidecar_path

    try:
        return bool(json.loads(sidecar_path(checkpoint).read_text(encoding="utf-8")).get("extra", {}).get("cavp"))
    except (OSError, ValueError, AttributeError):
        return False


def require_folai_weights(checkpoint: str | Path | None = None, store: ModelStore | None = None) -> None:
    problems = missing_folai_weights(checkpoint, store)
    if problems:
        raise FolAIWeightsMissing(problems)


def load_sao_base(model, store: ModelStore | None = None) -> None:
    """Stable Audio Open's ``model.safetensors`` from the store into ``model``'s frozen base (strict)."""
    from folai_models.synth.model import load_base_weights

    store = store or ModelStore()
    state = store.load_state_dict(SAO_WEIGHT)
    try:
        load_base_weights(model, state)
    except RuntimeError as error:
        from data_catalog.model_store import StateDictMismatchError

        raise StateDictMismatchError(store.path(SAO_WEIGHT), f"does not load into the Stable Audio Open model "
                                                             f"built from its model_config.json ({error})") from None


def missing_clap_weights(store: ModelStore | None = None) -> list[str]:
    """CLAP's missing pieces (empty when it can load), each with its pull command."""
    import importlib.util

    problems = []
    # find_spec, not import: importing laion_clap reaches for the hub unless the store's environment is set
    if importlib.util.find_spec("laion_clap") is None:
        problems.append("laion_clap is not installed: `bash setup.sh synth` (laion_clap 1.1.7 goes in with --no-deps)")
    store = store or ModelStore()
    for name in CLAP_WEIGHTS:
        try:
            store.require(name)
        except ModelStoreError as error:
            problems.append(f"{error} [`{pull_command(name)}`]")
    return problems


@lru_cache(maxsize=2)
def _cached_clap(root: str, device: str):
    return _load_clap(ModelStore(root), device)


def load_clap(store: ModelStore | None = None, device: str = "cpu"):
    """LAION-CLAP from the model store, offline (:class:`~folai_models.synth.clap.ClapEmbedder`).

    Raises :class:`FolAIWeightsMissing` naming every missing piece. Default-registry
    stores are cached per process.
    """
    store = store or ModelStore()
    problems = missing_clap_weights(store)
    if problems:
        raise FolAIWeightsMissing(problems)
    if store.registry is ModelStore().registry:
        return _cached_clap(str(store.root), device)
    return _load_clap(store, device)


def _load_clap(store: ModelStore, device: str):
    from folai_models.synth.clap import create_clap

    state = store.load_state_dict("laion-clap")
    with offline_hf(store):  # laion_clap builds its tokenizers and RoBERTa with from_pretrained
        try:
            return create_clap(state, device=device)
        except RuntimeError as error:
            from data_catalog.model_store import StateDictMismatchError

            raise StateDictMismatchError(store.path("laion-clap"), f"does not load into LAION-CLAP HTSAT-tiny "
                                                                   f"({str(error)[:500]})") from None


def load_cavp(store: ModelStore | None = None, device: str = "cpu"):
    """CAVP's video encoder from the model store (strict), eval mode; :class:`FolAIWeightsMissing` if absent."""
    from data_catalog.model_store import StateDictMismatchError
    from folai_models.synth.cavp import CAVPVideoEncoder, cavp_state_dict

    store = store or ModelStore()
    try:
        store.require(CAVP_WEIGHT)
    except ModelStoreError as error:
        raise FolAIWeightsMissing([f"{error} [`{pull_command(CAVP_WEIGHT)}`]"]) from None
    encoder = CAVPVideoEncoder()
    try:
        encoder.load_state_dict(cavp_state_dict(store.load_state_dict(CAVP_WEIGHT, strip_prefix="")), strict=True)
    except RuntimeError as error:
        raise StateDictMismatchError(store.path(CAVP_WEIGHT), f"does not load into CAVP's video encoder "
                                                              f"({str(error)[:500]})") from None
    return encoder.to(device).eval()


def video_cavp_embeddings(video_path: str, encoder, device: str = "cpu"):
    """CAVP embeddings ``[frames, 512]`` of a whole video at 4 fps (frames squashed to 224 x 224, RGB)."""
    import numpy as np

    from data_catalog.media import probe_video
    from data_catalog.media.frames import iter_frame_windows
    from folai_models.rates import CAVP_FRAME_RATE
    from folai_models.synth.cavp import CAVP_FRAME_SIZE, embed_frames

    info = probe_video(video_path)
    frames = list(iter_frame_windows(info, frame_rate=CAVP_FRAME_RATE, size=CAVP_FRAME_SIZE, pixel_format="rgb24"))
    return embed_frames(encoder, np.concatenate(frames), device=device)


def store_sao_config(store: ModelStore | None = None) -> dict:
    """The ``model_config.json`` pulled with Stable Audio Open."""
    store = store or ModelStore()
    store.require(SAO_WEIGHT)
    config_path = [p for p in store.paths(SAO_WEIGHT) if p.name == "model_config.json"][0]
    return json.loads(config_path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def load_folai_model(checkpoint: str, device: str):
    """SAO from the store + the trained ControlNet, in eval mode on ``device`` (once per process)."""
    from data_catalog.checkpoints import CheckpointError, load_checkpoint_state
    from folai_models.synth.model import FolAISynth, FolAISynthConfig
    from folai_models.synth.sao import base_model_config

    require_folai_weights(checkpoint)
    state, meta = load_checkpoint_state(checkpoint, model=CONTROLNET_MODEL)
    config = FolAISynthConfig.from_dict(meta["config"])
    published = store_sao_config()
    if base_model_config(config.base)["model"] != base_model_config(published)["model"]:
        raise CheckpointError(checkpoint, "this ControlNet was trained on another base model than the "
                                          "Stable Audio Open in the model store")
    try:
        model = FolAISynth.from_checkpoint(state, meta, load_base=load_sao_base)
    except ValueError as error:
        raise CheckpointError(checkpoint, str(error)) from None
    return model.to(device).eval()


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
