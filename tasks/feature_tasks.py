"""Tasks of the video stage: optical flow + frame features, through the content-keyed cache."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from data_catalog.feature_cache import FeatureCache, FeatureKey
from data_catalog.free_memory import release_free_heap
from data_catalog.media import VideoInfo, iter_frame_windows
from data_catalog.media.frames import WINDOW_FRAMES, prefetched
from data_catalog.model_store import ModelStore, load_state_dict
from folai_models.encoders import FrameEncoder, create_encoder_from_config
from folai_models.features import CHUNK_FRAMES, extract_features
from folai_models.optical_flow.base import FlowEstimator
from folai_models.optical_flow.registry import create_flow_estimator_from_config, flow_estimator_class
from folai_models.rates import VIDEO_FRAME_RATE
from tasks._options import pipeline_task

DEFAULT_FLOW = {"motion": "opencv"}  # weight-free encoders get weight-free flow; the others RAFT (papers)
ENCODER_INPUT_SIZE = (224, 224)  # FolAI / Video-Foley: 224 x 224 frames for TC-CLIP and BN-Inception


@dataclass
class VideoStage:
    """A ready-to-run encoder and flow estimator, built once per batch."""

    encoder: FrameEncoder
    flow: FlowEstimator | None
    flow_method: str

    @property
    def cache_name(self) -> str:
        return f"{self.encoder.name}+{self.flow_method}" if self.flow else self.encoder.name

    @property
    def revision(self) -> str:
        flow_revision = self.flow.revision() if self.flow else "none"
        return f"{self.encoder.revision()}|{flow_revision}"


def default_flow_method(encoder: str) -> str:
    return DEFAULT_FLOW.get(encoder, "raft")


def build_flow(method: str, device: str, store: ModelStore, options: dict | None = None) -> FlowEstimator:
    """A flow estimator by registry name; one with weights (RAFT) loads them from the model store (never downloads).

    ``options``: the estimator's own keyword arguments (e.g. ``{"preset": "ultrafast"}`` for ``opencv``).
    """
    options = dict(options or {})
    if flow_estimator_class(method).uses_device:
        options["device"] = resolve_device(device)
    estimator = create_flow_estimator_from_config({"name": method, "options": options})
    if estimator.weights_name:
        estimator.load_state_dict(load_state_dict(store.require(estimator.weights_name)))
    return estimator


def resolve_device(device: str = "auto") -> str:
    """``auto``: the GPU when torch sees one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_video_stage(encoder: str, flow: str | None = None, device: str = "auto",
                      store: ModelStore | None = None, flow_options: dict | None = None) -> VideoStage:
    """Encoder (pretrained weights from the store when it has any) and its flow estimator.

    ``flow_options``: keyword arguments of the flow estimator (e.g. ``{"preset": "fast"}`` for ``opencv``);
    they enter the stage's revision, hence the feature cache key, through the estimator's ``revision()``.
    """
    store = store or ModelStore()
    # resolved only for a model that runs on it: 'auto' imports torch to look for a GPU
    options = {"device": resolve_device(device)} if encoder != "motion" else {}
    model = create_encoder_from_config({"name": encoder, "options": options})
    if model.weights_name:
        model.load_state_dict(load_state_dict(store.require(model.weights_name)))
    method = flow or default_flow_method(encoder)
    estimator = build_flow(method, device, store, flow_options) if model.uses_flow else None
    return VideoStage(encoder=model, flow=estimator, flow_method=method if estimator else "none")


def feature_key(stage: VideoStage, video_sha256: str, frame_rate: float = VIDEO_FRAME_RATE,
                window_frames: int = WINDOW_FRAMES) -> FeatureKey:
    return FeatureKey(video_sha256=video_sha256, encoder=stage.cache_name, weights_revision=stage.revision,
                      frame_rate=frame_rate, window_frames=window_frames)


def frame_features(info: VideoInfo, video_sha256: str, stage: VideoStage, *, dataset: str = "default",
                   split: str = "all", cache: FeatureCache | None = None) -> tuple[np.ndarray, dict]:
    """Features [T, D] of a video at 30 fps: a cache hit is read here, without a task run, so it
    never waits for a ``gpu`` slot; a miss runs :func:`frame_features_task`.
    """
    cache = cache or FeatureCache()
    key = feature_key(stage, video_sha256)
    start = time.perf_counter()
    features = cache.get(key, dataset, split)
    if features is None:
        return frame_features_task(info, video_sha256, stage, dataset=dataset, split=split, cache=cache)
    return features, _details(stage, features, True, start, cache.path_for(key, dataset, split))


def _details(stage: VideoStage, features: np.ndarray, cached: bool, start: float, cache_file) -> dict:
    return {"encoder": stage.encoder.name, "flow": stage.flow_method, "revision": stage.revision,
            "shape": list(features.shape), "cached": cached, "seconds": round(time.perf_counter() - start, 3),
            "cache_file": str(cache_file)}


@pipeline_task(name="frame-features", tags=("gpu", "features"))  # content cache: the FeatureCache below
def frame_features_task(info: VideoInfo, video_sha256: str, stage: VideoStage, *, dataset: str = "default",
                        split: str = "all", cache: FeatureCache | None = None) -> tuple[np.ndarray, dict]:
    """Features [T, D] of a video at 30 fps, from the cache when its key matches.

    A cache hit decodes nothing and runs no model. Tagged ``gpu`` so a Prefect
    concurrency limit can hold this work to a worker's GPU slots (callers use
    :func:`frame_features`, which reads a hit without taking a slot).
    """
    return compute_frame_features(info, video_sha256, stage, dataset=dataset, split=split, cache=cache)


def compute_frame_features(info: VideoInfo, video_sha256: str, stage: VideoStage, *, dataset: str = "default",
                           split: str = "all", cache: FeatureCache | None = None) -> tuple[np.ndarray, dict]:
    """:func:`frame_features_task` as a plain function (for engines used as a library: no Prefect run)."""
    cache = cache or FeatureCache()
    key = feature_key(stage, video_sha256)
    start = time.perf_counter()

    def compute() -> np.ndarray:
        size = stage.encoder.input_size or ENCODER_INPUT_SIZE
        # read a chunk at a time (features do not depend on the cut): three windows in flight
        # (decoded ahead, queued, analysed) hold ~7 MB at 224x224
        windows = iter_frame_windows(info, frame_rate=key.frame_rate,
                                     window_frames=min(key.window_frames, CHUNK_FRAMES),
                                     size=(size[1], size[0]), pixel_format="rgb24",
                                     center_crop=stage.encoder.center_crop,
                                     resize_shorter_side=stage.encoder.resize_shorter_side)
        return extract_features(prefetched(windows), stage.encoder, stage.flow)

    features, cached = cache.get_or_compute(key, compute, dataset=dataset, split=split)
    release_free_heap()  # what the analysis freed: the model's outputs that come next cannot reuse it
    return features, _details(stage, features, cached, start, cache.path_for(key, dataset, split))
