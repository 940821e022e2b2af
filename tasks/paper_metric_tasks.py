"""Tasks of the papers' metrics: which can run (weights, packages), the networks from the model store,
and each file's features for all of them.

Metric -> what it needs. A metric whose weights are not in the store is reported as
``"skipped: weights for NAME missing (sonorize models pull NAME)"``, never an error.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from data_catalog.errors import MediaError
from data_catalog.media import extract_audio
from data_catalog.model_store import ModelStore, ModelStoreError, pull_command
from folai_models.rates import CLAP_SAMPLE_RATE, I3D_FRAME_RATE, MSCLAP_SAMPLE_RATE, PANNS_SAMPLE_RATE, VGGISH_SAMPLE_RATE
from tasks._options import keyed_by_file, pipeline_task

CLAP_WEIGHTS = ("laion-clap", "roberta-base", "bert-base-uncased", "bart-base")  # laion_clap builds all three
METRIC_MODELS = {  # metric -> the embedding networks it needs
    "fad_p": ("panns",), "fad_c": ("msclap",), "fad_lc": ("laion_clap",), "clap_score": ("laion_clap",),
    "favd": ("i3d", "vggish"),
}
MODEL_WEIGHTS = {"panns": ("panns-wavegram-logmel",), "msclap": ("msclap-2023",), "laion_clap": CLAP_WEIGHTS,
                 "i3d": ("i3d-rgb",), "vggish": ("vggish",)}
MODEL_PACKAGES = {  # model -> (import name, how to install it)
    "msclap": ("msclap", "pip install --no-deps msclap==1.3.4"),
    "laion_clap": ("laion_clap", "pip install --no-deps laion_clap==1.1.7"),
    "panns": ("torchlibrosa", "pip install torchlibrosa==0.1.0"),
}
PAPER_METRICS = tuple(METRIC_MODELS)
LAION_WINDOW_S, CLAP_HOP_S = 10.0, 1.0  # fadtk 'clap-laion-audio': 10 s windows, 1 s hop
PANNS_WINDOW_S = 10.0  # AudioSet clip length, what PANNs was trained on; hop as fadtk's CLAP


def model_skip_reason(model: str, store: ModelStore) -> str | None:
    """Why ``model`` cannot load (a package or a weight missing), or None when it can."""
    package = MODEL_PACKAGES.get(model)
    if package and importlib.util.find_spec(package[0]) is None:
        return f"skipped: {package[0]} is not installed ({package[1]})"
    for name in MODEL_WEIGHTS[model]:
        try:
            store.require(name)
        except ModelStoreError as error:
            state = "missing" if "not in the model store" in str(error) else "unusable"
            return f"skipped: weights for {name} {state} ({pull_command(name)})"
    return None


def metric_skip_reasons(store: ModelStore | None = None) -> dict[str, str]:
    """``{metric: reason}`` for every paper metric that cannot run with this store."""
    store = store or ModelStore()
    reasons = {}
    for metric, models in METRIC_MODELS.items():
        for model in models:
            reason = model_skip_reason(model, store)
            if reason:
                reasons[metric] = reason
                break
    return reasons


def _panns(store: ModelStore, device: str) -> Callable:
    from data_catalog.model_store.loading import load_into
    from folai_models.paper_metrics.panns import create_panns, panns_embed

    model = load_into(create_panns(), store.load_state_dict("panns-wavegram-logmel"),
                      source=store.path("panns-wavegram-logmel")).to(device)
    return lambda audio: panns_embed(model, audio, PANNS_WINDOW_S, CLAP_HOP_S, device).numpy()


def _msclap(store: ModelStore, device: str) -> Callable:
    from data_catalog.model_store.loading import load_into, select_prefix
    from folai_models.paper_metrics.msclap_audio import MSCLAP_PREFIX, create_msclap_audio, msclap_embed

    state = select_prefix(store.load_state_dict("msclap-2023"), MSCLAP_PREFIX)
    model = load_into(create_msclap_audio(), state, source=store.path("msclap-2023")).to(device)
    return lambda audio: msclap_embed(model, audio, CLAP_HOP_S, device).numpy()


def _laion_clap(store: ModelStore, device: str) -> Callable:
    from folai_models.paper_metrics.chunks import int16_roundtrip, windows
    from tasks.engines.weights import load_clap

    clap = load_clap(store, device)
    return lambda audio: clap.embed_audio(windows(int16_roundtrip(audio), CLAP_SAMPLE_RATE, LAION_WINDOW_S,
                                                  CLAP_HOP_S), CLAP_SAMPLE_RATE).numpy()


def _vggish(store: ModelStore, device: str) -> Callable:
    from data_catalog.model_store.loading import load_into
    from folai_models.paper_metrics.vggish import create_vggish, vggish_embed

    model = load_into(create_vggish(), store.load_state_dict("vggish"), source=store.path("vggish")).to(device)
    return lambda audio: vggish_embed(model, audio, device)


def _i3d(store: ModelStore, device: str) -> Callable:
    from data_catalog.model_store.loading import load_into
    from folai_models.paper_metrics.i3d import create_i3d, i3d_embed

    model = create_i3d()
    state = with_batch_counters(model, store.load_state_dict("i3d-rgb"))
    load_into(model, state, source=store.path("i3d-rgb"))
    return lambda frames: i3d_embed(model.to(device), frames, device=device)


def with_batch_counters(model, state: dict) -> dict:
    """``state`` plus BatchNorm's ``num_batches_tracked`` where it lacks them: the I3D port was saved
    (2017) before PyTorch had that buffer; every other key must still match exactly."""
    counters = {k: v for k, v in model.state_dict().items() if k.endswith(".num_batches_tracked") and k not in state}
    return {**state, **counters}


BUILDERS = {"panns": _panns, "msclap": _msclap, "laion_clap": _laion_clap, "vggish": _vggish, "i3d": _i3d}
MODEL_RATES = {"panns": PANNS_SAMPLE_RATE, "msclap": MSCLAP_SAMPLE_RATE, "laion_clap": CLAP_SAMPLE_RATE,
               "vggish": VGGISH_SAMPLE_RATE}


@lru_cache(maxsize=8)
def _cached_embedder(model: str, root: str, device: str) -> Callable:
    return BUILDERS[model](ModelStore(root), device)


def load_embedder(model: str, store: ModelStore | None = None, device: str = "cpu") -> Callable:
    """The embedding function of ``model`` (audio at :data:`MODEL_RATES`, or RGB frames for ``i3d``)."""
    store = store or ModelStore()
    if store.registry is ModelStore().registry:
        return _cached_embedder(model, str(store.root), device)
    return BUILDERS[model](store, device)


def read_i3d_frames(path: str) -> np.ndarray:
    """RGB frames of a video at 25 fps, shorter side 256, centre 224 x 224 (I3D's input)."""
    from data_catalog.media import probe_video
    from data_catalog.media.frames import iter_frame_windows
    from folai_models.paper_metrics.i3d import I3D_CROP, I3D_RESIZE

    info = probe_video(path)
    windows = list(iter_frame_windows(info, frame_rate=I3D_FRAME_RATE, window_frames=256, size=(I3D_CROP, I3D_CROP),
                                      pixel_format="rgb24", center_crop=True, resize_shorter_side=I3D_RESIZE))
    return np.concatenate(windows)


def file_features(path: str, embedders: dict[str, Callable]) -> dict[str, np.ndarray]:
    """Each model's embedding of one file (``i3d`` only when the file has a picture).

    Raises MediaError for a file whose audio cannot be decoded.
    """
    out: dict[str, np.ndarray] = {}
    audio_cache: dict[int, np.ndarray] = {}
    for model, embed in embedders.items():
        if model == "i3d":
            try:
                out[model] = embed(read_i3d_frames(path))
            except MediaError:
                continue  # audio only: no FAVD for this file
            continue
        rate = MODEL_RATES[model]
        if rate not in audio_cache:
            audio_cache[rate] = extract_audio(path, sample_rate=rate, n_channels=1)[0]
        out[model] = np.asarray(embed(audio_cache[rate]), dtype=np.float32)
    return out


@pipeline_task(name="paper-metric-features", tags=("eval",),
               cache_key_fn=keyed_by_file("path", "models", "device"))
def file_features_task(path: str, models: tuple[str, ...], device: str = "cpu") -> dict[str, np.ndarray]:
    """:func:`file_features` with the store's networks for ``models``."""
    return file_features(path, {m: load_embedder(m, device=device) for m in models})


def paper_metrics(reference: dict[str, dict[str, np.ndarray]], generated: dict[str, dict[str, np.ndarray]],
                  pairs: dict[str, str], skipped: dict[str, str]) -> dict[str, float | str]:
    """Every paper metric from per-file features: a value, or the reason it was skipped.

    Parameters
    ----------
    reference, generated : path -> {model: features} (:func:`file_features`).
    pairs : generated path -> its reference path (for the CLAP score).
    skipped : metric -> reason, for metrics whose networks could not load.
    """
    from folai_models.paper_metrics import clap_score, fad, favd

    def clips(features, model):
        return [f[model] for f in features.values() if model in f]

    results: dict[str, float | str] = {}
    for metric in PAPER_METRICS:
        if metric in skipped:
            results[metric] = skipped[metric]
            continue
        try:
            if metric == "favd":
                both = lambda feats: [(f["i3d"], f["vggish"]) for f in feats.values() if "i3d" in f and "vggish" in f]  # noqa: E731
                results[metric] = favd(both(reference), both(generated))
            elif metric == "clap_score":
                ref = {g: reference[r]["laion_clap"] for g, r in pairs.items() if r in reference}
                gen = {g: generated[g]["laion_clap"] for g in ref if g in generated}
                results[metric] = clap_score(ref, gen)[0]
            else:
                model = METRIC_MODELS[metric][0]
                results[metric] = fad(clips(reference, model), clips(generated, model))
        except ValueError as error:  # too few frames, no pairs: a reason, not a crash
            results[metric] = f"skipped: {error}"
    return results
