"""The ``video2rms`` envelope engine: the learned envelope model (FolAI IV-C) on frame features.

On the CPU a checkpoint with an ONNX export beside it (the shipped one has one) runs on
onnxruntime, without importing PyTorch (~5 s and ~600 MB per command in this install);
others run on PyTorch. An export that does not verify (modified, or made from other weights)
is not run: the checkpoint, which it only mirrors, runs on PyTorch instead with a warning, or,
without PyTorch, the error names the file.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

from data_catalog.errors import OptionError
from data_catalog.media import VideoInfo
from tasks.engines.base import EnvelopeEngine
from tasks.engines.registry import register_envelope_engine

SHIPPED_VIDEO2RMS = Path(__file__).resolve().parents[2] / "folai_models" / "checkpoints" / "video2rms-motion.safetensors"


@register_envelope_engine("video2rms")
class Video2RMSEnvelopeEngine(EnvelopeEngine):
    """The learned envelope model (FolAI IV-C) on frame features.

    Its checkpoint names the encoder it was trained on; with the shipped
    checkpoint (``motion`` features) no pretrained weights are needed.
    """

    needs_features = True

    def __init__(self, checkpoint: str | Path | None = None, device: str = "auto"):
        self.checkpoint = Path(checkpoint) if checkpoint else default_video2rms_checkpoint()
        if self.checkpoint is None:
            raise OptionError("no Video2RMS checkpoint: set SONORIZE_VIDEO2RMS_CHECKPOINT or train one "
                             "(train-video2rms flow); the package ships none in this install")
        self.device = device

    def video_stage(self):
        """The encoder and flow the checkpoint was trained on (its features are what :meth:`predict` reads)."""
        return load_video2rms(str(self.checkpoint), self.device)[2]

    def predict(self, info: VideoInfo, *, video_sha256: str | None = None,
                features: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        from folai_models.video2rms.calibrate import onset_confidence
        from folai_models.video2rms.decode import decode_with_config, predict_outputs
        from folai_models.video2rms.level_map import apply_level_map

        model, config, stage, normalizer, level_map = load_video2rms(str(self.checkpoint), self.device)
        if features is None:  # plain library use: the flow passes the cached frame-features task's output
            from data_catalog.hashing import sha256_file
            from tasks.feature_tasks import compute_frame_features

            features, _ = compute_frame_features(info, video_sha256 or sha256_file(info.path), stage)
        normalized = normalizer(features)
        del features  # ours goes before the model's outputs come (a caller's copy is the caller's)
        probs, onset_probs = predict_outputs(model, normalized, config)
        del normalized  # an hour's is 63 MB: not held through the decoding
        envelope = apply_level_map(decode_with_config(probs, config, onset_probabilities=onset_probs), level_map)
        self.details = {} if onset_probs is None else {
            "onset_confidence": round(onset_confidence(onset_probs), 4),
            "onset_confidence_floor": confidence_floor(str(self.checkpoint))}
        return np.asarray(envelope, dtype=np.float32), config.envelope_rate

    def describe(self) -> dict:
        return {"name": self.name, "checkpoint": str(self.checkpoint)}


def confidence_floor(checkpoint: str) -> float | None:
    """The onset confidence of the least sure of the checkpoint's validation videos, when it was recorded
    (``train-video2rms`` does; ``benchmarks/video2rms_confidence_floor.py`` for older checkpoints)."""
    from data_catalog.checkpoints import CheckpointError, load_checkpoint_meta, sidecar_path

    floor = load_checkpoint_meta(checkpoint).get("extra", {}).get("onset_confidence_floor")
    if floor is None:
        return None
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0.0 <= floor <= 1.0:
        raise CheckpointError(sidecar_path(checkpoint), f"onset_confidence_floor must be a probability in [0, 1], "
                                                        f"got {floor!r}")
    return float(floor)


def default_video2rms_checkpoint() -> Path | None:
    """The configured checkpoint (``SONORIZE_VIDEO2RMS_CHECKPOINT``), else the shipped one, else None."""
    from data_catalog.settings import get_settings

    configured = get_settings().video2rms_checkpoint
    if configured:
        return Path(configured)
    return SHIPPED_VIDEO2RMS if SHIPPED_VIDEO2RMS.is_file() else None


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported (found without importing it: torch's import alone takes seconds)."""
    return importlib.util.find_spec(module) is not None


def video2rms_available() -> bool:
    """A Video2RMS checkpoint is installed and can run: PyTorch, or onnxruntime and its ONNX export."""
    from data_catalog.checkpoints import onnx_path

    checkpoint = default_video2rms_checkpoint()
    if checkpoint is None:
        return False
    return _installed("torch") or (_installed("onnxruntime") and onnx_path(checkpoint).is_file())


def _onnx_model(checkpoint: str, device: str):
    """The checkpoint's verified ONNX export on onnxruntime and the checkpoint's sidecar, or None to use PyTorch.

    Used on the CPU (``device`` 'auto' or 'cpu') when onnxruntime and an export are installed; an
    export that fails verification falls back to PyTorch with a warning, or raises without PyTorch.
    """
    from data_catalog.checkpoints import CheckpointError, load_onnx_export, onnx_path
    from folai_models.video2rms.config import Video2RMSConfig
    from folai_models.video2rms.onnx_model import OnnxVideo2RMS

    if device not in ("auto", "cpu") or not onnx_path(checkpoint).is_file() or not _installed("onnxruntime"):
        return None
    try:
        graph, meta = load_onnx_export(checkpoint, model="Video2RMS")
        try:
            return OnnxVideo2RMS(graph, Video2RMSConfig.from_dict(meta["config"])), meta
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(graph, str(error)) from None
    except CheckpointError as error:
        if not _installed("torch"):
            raise
        logging.getLogger(__name__).warning("%s; running the checkpoint on PyTorch instead", error)
        return None


def torch_video2rms(checkpoint: str, device: str):
    """The checkpoint's :class:`Video2RMS` on ``device`` (resolved) and its sidecar."""
    from data_catalog.checkpoints import CheckpointError, load_checkpoint_state, onnx_path

    if not _installed("torch"):
        raise CheckpointError(checkpoint, f"needs PyTorch (pip install -e '.[video]') or onnxruntime and an ONNX "
                                          f"export ({onnx_path(checkpoint).name}, made by sonorize export-onnx)")
    from folai_models.video2rms.model import Video2RMS

    state, meta = load_checkpoint_state(checkpoint, map_location=device, model="Video2RMS")
    try:
        model = Video2RMS.from_checkpoint(state, meta)
    except ValueError as error:
        raise CheckpointError(checkpoint, str(error)) from None
    return model.to(device).eval(), meta


def _trained_flow(feature_revision: str) -> tuple[str | None, dict | None]:
    """The flow method and arguments a ``"<encoder revision>|<flow revision>"`` names (e.g. OpenCV DIS
    and its preset); (None, None): the encoder's default flow."""
    flow_revision = feature_revision.partition("|")[2]
    if flow_revision.startswith("opencv"):
        from folai_models.optical_flow.opencv_flow import options_from_revision

        options = options_from_revision(flow_revision)
        if options is not None:
            return "opencv", options
    return None, None


@lru_cache(maxsize=2)
def load_video2rms(checkpoint: str, device: str):
    """Model, config, video stage, feature normaliser and level map of a checkpoint (loaded once per process).

    The model is an :class:`~folai_models.video2rms.onnx_model.OnnxVideo2RMS` when the checkpoint's
    ONNX export runs (see the module docstring), else a PyTorch :class:`Video2RMS`.
    """
    from data_catalog.checkpoints import CheckpointError
    from folai_models.video2rms.normalizer import FeatureNormalizer
    from tasks.feature_tasks import build_video_stage, resolve_device

    loaded = _onnx_model(checkpoint, device)
    if loaded is None:
        device = resolve_device(device)
        loaded = torch_video2rms(checkpoint, device)
    model, meta = loaded
    config = model.config
    extra = meta.get("extra", {})
    trained_on = extra.get("feature_revision")
    # the flow settings the checkpoint was trained with (e.g. the DIS preset), not this install's default
    flow, flow_options = _trained_flow(trained_on or "")
    stage = build_video_stage(extra.get("encoder", "motion"), flow, device=device, flow_options=flow_options)
    if trained_on and trained_on != stage.revision:
        # "<encoder revision>|<flow revision>": another feature definition would be read silently, so refuse;
        # another flow version (e.g. OpenCV 4.x vs 5.x) gives nearly the same flow, so only say so
        if trained_on.split("|")[0] != stage.encoder.revision():
            raise CheckpointError(checkpoint, f"trained on features {trained_on!r}, but this install computes "
                                              f"{stage.revision!r}: retrain it (train-video2rms) on "
                                              "re-preprocessed data")
        logging.getLogger(__name__).warning("%s was trained with flow %r, this install computes %r",
                                            checkpoint, trained_on, stage.revision)
    level_map = json.loads(extra["level_map"]) if extra.get("level_map") else []  # older checkpoints: none
    return model, config, stage, FeatureNormalizer.from_dict(extra), level_map
