"""Video2RMS configuration: every paper constant as a named, documented default.

A :class:`Video2RMSConfig` is plain data (JSON via :meth:`Video2RMSConfig.to_dict`
/ :meth:`Video2RMSConfig.from_dict`) and is stored beside every checkpoint, so a
checkpoint rebuilds exactly the model that wrote it. This module imports no
torch.

Lengths: a window of ``T`` video frames maps to
``n_envelope_frames_for_video_frames(T) = round_half_up(T * envelope_rate / frame_rate)``
envelope frames (300 -> 1250 for 10 s at 30 fps / 125 fps).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from folai_models.envelope import SMOOTHING_KERNEL_SIZE, SMOOTHING_METHODS
from folai_models.quantize import (
    LABEL_SMOOTHING_SIGMA,
    LABEL_SMOOTHING_WINDOW,
    MU,
    N_CLASSES,
    RMS_MIN,
)
from folai_models.rates import ENVELOPE_FRAME_RATE, VIDEO_FRAME_RATE

__all__ = [
    "UPSAMPLING_VARIANTS",
    "DECODE_METHODS",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "Video2RMSConfig",
    "round_half_up",
]

UPSAMPLING_VARIANTS = ("folai", "linear")
DECODE_METHODS = ("expectation", "argmax", "presence", "onsets")
HIGHER_IS_BETTER = ("onset_f1", "onset_precision", "onset_recall", "correlation", "acc@1", "acc@5", "acc@10")
LOWER_IS_BETTER = ("e_l1", "loss", "onset_median_abs_error_s")

TC_CLIP_FEATURE_DIM = 1024  # FolAI IV-B / spec stage 6: TC-CLIP RGB 512 + flow 512
WINDOW_S = 10.0  # FolAI V-A / Video-Foley IV-B: models see 10 s chunks (300 -> 1250 frames)
CONV_LAYERS = 3  # FolAI IV-C / Video-Foley III-C: three 1-D convolutional blocks
KERNEL_SIZE = 5  # Video-Foley code (after RegNet): encoder_kernel_size = 5
UPSAMPLE_FACTORS = (2.0, 2.0)  # FolAI IV-C: 300 -> 600 -> 1200, then the last block to 1250
UPSAMPLE_MODE = "nearest-exact"  # nn.Upsample's nearest, centre-aligned on the (i + 0.5) frame grids
LSTM_LAYERS = 2  # FolAI IV-C / Video-Foley III-C: two bidirectional LSTM layers
DROPOUT = 0.5  # Video-Foley code (after RegNet): F.dropout(0.5) after every conv block
LEARNING_RATE = 1e-3  # FolAI V-B: constant lr 1e-3 (Video-Foley IV-B1: also 1e-3)
WEIGHT_DECAY = 1e-3  # FolAI V-B: Adam with weight decay 1e-3
BATCH_SIZE = 64  # FolAI V-B (Video-Foley IV-B1 uses 512)
EPOCHS = 500  # FolAI V-B / Video-Foley IV-B1: 500 epochs on Greatest Hits
INFERENCE_OVERLAP = 0.25  # ours: 25 % window overlap, crossfaded, for videos of any length
SEED = 123  # Video-Foley code: train.seed = 123
ONSET_TARGET_WIDTH = 4  # ours: frames either side of a reference onset marked positive (+-32 ms at 125 fps)
ONSET_POS_WEIGHT = 5.0  # ours: BCE weight of onset frames (about 1 frame in 15 is positive on dense hits)
EVENT_DECAY_S = 0.08  # ours: decay of a rendered hit (Greatest Hits strikes fade in ~50-150 ms)
EVENT_DIP_S = 0.032  # ours: the envelope dips over the 4 frames before a detected onset
EVENT_DIP_RATIO = 0.2  # ours: depth of that dip relative to the hit's level (-14 dB)


def round_half_up(x: float) -> int:
    """``floor(x + 0.5)``: Python's ``round`` rounds halves to even (912.5 -> 912)."""
    return int(math.floor(x + 0.5 + 1e-9))  # 1e-9 absorbs float error in T * 125 / 30


@dataclass(frozen=True)
class Video2RMSConfig:
    """Architecture, data grid and training defaults of the Video2RMS envelope model.

    Attributes
    ----------
    input_dim : feature length per video frame; follows the encoder (1024 TC-CLIP,
        2048 BN-Inception, 73 for the weight-free ``"motion"`` encoder).
    n_classes, mu, rms_min : envelope quantisation (:mod:`folai_models.quantize`).
    frame_rate, envelope_rate : video frames and envelope frames per second.
    window_s : model window; ``"linear"`` models accept only this length.
    conv_channels : conv width; None = ``input_dim`` (Video-Foley / RegNet code:
        every conv is ``encoder_embedding_dim`` wide). Set it for small inputs
        (e.g. 256 for the 73-d motion features).
    kernel_size, n_conv_layers : the conv blocks (odd kernel, "same" padding).
    upsampling : ``"folai"`` (each block Conv1d, BatchNorm1d, ReLU, Upsample:
        ``T -> 2T -> 4T -> n_out``, FolAI IV-C) or ``"linear"`` (blocks keep
        ``T``; after the BiLSTM a learned Linear over time maps the fixed
        ``window_frames`` to ``window_envelope_frames``, Video-Foley code).
    upsample_factors : ``"folai"`` sizes of all but the last block, relative to
        the input length; the last block goes to exactly ``n_out``.
    upsample_mode : ``torch.nn.functional.interpolate`` mode.
    lstm_hidden : per direction; None = ``conv_width // 4`` (Video-Foley code:
        ``encoder_embedding_dim / 4``), so the head sees ``conv_width / 2``.
    lstm_layers, dropout : BiLSTM depth; dropout after every conv block.
    learning_rate, weight_decay, batch_size, epochs : Adam training (FolAI V-B).
    label_smoothing_sigma, label_smoothing_window : Gaussian label smoothing.
    target_smoothing, smoothing_kernel_size : how training targets are smoothed
        before quantisation (``"kernel"`` 15 FolAI III-B, ``"ellip"`` Video-Foley
        code, ``"none"``); applied by the data preparation, recorded here.
    decode_method : ``"expectation"``, ``"argmax"``, ``"presence"`` or ``"onsets"``
        (see :mod:`.decode`).
    presence_threshold : ``"presence"`` / ``"onsets"``: sound where ``P(class > 0)``
        exceeds it (calibrated on the training videos by the training flow).
    onset_weight : ours, not in the papers: weight of an onset head's loss (a
        per-envelope-frame "a sound starts here" logit beside the 64 classes,
        binary cross-entropy). 0 = no onset head: the papers' model.
    onset_target_width, onset_pos_weight : onset targets are the frames within
        this many frames of a reference onset; positives weigh this much more.
    onset_threshold : ``"onsets"`` decoding: onset probability a peak must exceed.
    event_decay_s, event_dip_s, event_dip_ratio : ``"onsets"`` decoding: each
        detected onset is drawn as a hit decaying with this time constant, the
        envelope dipping to ``ratio`` of the hit's level over ``dip_s`` before it.
    inference_overlap : fraction of a window shared by neighbours at inference.
    train_hop_s : hop between training chunks; None = ``window_s`` (the
        papers' non-overlapping 10 s chunks).
    best_metric : :func:`folai_models.video2rms.train.evaluate` key that picks
        the best checkpoint.
    seed : random seed for weights and shuffling.
    """

    input_dim: int = TC_CLIP_FEATURE_DIM
    n_classes: int = N_CLASSES
    mu: float = MU
    rms_min: float = RMS_MIN
    frame_rate: float = VIDEO_FRAME_RATE
    envelope_rate: float = ENVELOPE_FRAME_RATE
    window_s: float = WINDOW_S
    conv_channels: int | None = None
    kernel_size: int = KERNEL_SIZE
    n_conv_layers: int = CONV_LAYERS
    upsampling: str = "folai"
    upsample_factors: tuple[float, ...] = UPSAMPLE_FACTORS
    upsample_mode: str = UPSAMPLE_MODE
    lstm_hidden: int | None = None
    lstm_layers: int = LSTM_LAYERS
    dropout: float = DROPOUT
    learning_rate: float = LEARNING_RATE
    weight_decay: float = WEIGHT_DECAY
    batch_size: int = BATCH_SIZE
    epochs: int = EPOCHS
    label_smoothing_sigma: float = LABEL_SMOOTHING_SIGMA
    label_smoothing_window: int = LABEL_SMOOTHING_WINDOW
    target_smoothing: str = "kernel"
    smoothing_kernel_size: int = SMOOTHING_KERNEL_SIZE
    decode_method: str = "expectation"
    presence_threshold: float = 0.5  # "presence" decoding: sound where P(class > 0) exceeds it
    onset_weight: float = 0.0
    onset_target_width: int = ONSET_TARGET_WIDTH
    onset_pos_weight: float = ONSET_POS_WEIGHT
    onset_threshold: float = 0.5
    event_decay_s: float = EVENT_DECAY_S
    event_dip_s: float = EVENT_DIP_S
    event_dip_ratio: float = EVENT_DIP_RATIO
    inference_overlap: float = INFERENCE_OVERLAP
    train_hop_s: float | None = None
    best_metric: str = "onset_f1"
    seed: int = SEED

    def __post_init__(self) -> None:
        object.__setattr__(self, "upsample_factors", tuple(float(f) for f in self.upsample_factors))
        for name in ("input_dim", "n_classes", "kernel_size", "n_conv_layers", "lstm_layers",
                     "batch_size", "epochs", "smoothing_kernel_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("conv_channels", "lstm_hidden"):
            value = getattr(self, name)
            if value is not None and (int(value) != value or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        for name in ("frame_rate", "envelope_rate", "window_s", "learning_rate", "label_smoothing_sigma"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd ('same' padding), got {self.kernel_size}")
        if self.upsampling not in UPSAMPLING_VARIANTS:
            raise ValueError(f"upsampling must be one of {UPSAMPLING_VARIANTS}, got {self.upsampling!r}")
        if self.upsampling == "folai" and len(self.upsample_factors) != self.n_conv_layers - 1:
            raise ValueError(
                f"upsample_factors needs n_conv_layers - 1 = {self.n_conv_layers - 1} entries "
                f"(the last block goes to n_out), got {self.upsample_factors}"
            )
        if any(not (math.isfinite(f) and f > 0) for f in self.upsample_factors):
            raise ValueError(f"upsample_factors must be positive, got {self.upsample_factors}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if not 0.0 <= self.inference_overlap < 1.0:
            raise ValueError(f"inference_overlap must lie in [0, 1), got {self.inference_overlap!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if int(self.label_smoothing_window) != self.label_smoothing_window or self.label_smoothing_window < 0:
            raise ValueError(f"label_smoothing_window must be an integer >= 0, got {self.label_smoothing_window!r}")
        if self.target_smoothing not in SMOOTHING_METHODS:
            raise ValueError(f"target_smoothing must be one of {SMOOTHING_METHODS}, got {self.target_smoothing!r}")
        for name in ("onset_weight", "onset_target_width", "onset_pos_weight", "event_dip_s", "event_dip_ratio"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        if int(self.onset_target_width) != self.onset_target_width:
            raise ValueError(f"onset_target_width must be an integer, got {self.onset_target_width!r}")
        if not (math.isfinite(self.event_decay_s) and self.event_decay_s > 0):
            raise ValueError(f"event_decay_s must be positive, got {self.event_decay_s!r}")
        for name in ("presence_threshold", "onset_threshold", "event_dip_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")
        if self.decode_method == "onsets" and not self.has_onset_head:
            raise ValueError("decode_method 'onsets' needs the onset head: set onset_weight > 0")
        if self.decode_method not in DECODE_METHODS:
            raise ValueError(f"decode_method must be one of {DECODE_METHODS}, got {self.decode_method!r}")
        if self.best_metric not in HIGHER_IS_BETTER + LOWER_IS_BETTER:
            raise ValueError(
                f"best_metric must be one of {HIGHER_IS_BETTER + LOWER_IS_BETTER}, got {self.best_metric!r}"
            )
        if self.train_hop_s is not None and not (math.isfinite(self.train_hop_s) and self.train_hop_s > 0):
            raise ValueError(f"train_hop_s must be positive or None, got {self.train_hop_s!r}")
        if self.window_frames < 1:
            raise ValueError(f"window_s = {self.window_s} s holds no video frame at {self.frame_rate} fps")

    # --- derived sizes -------------------------------------------------------------------------
    @property
    def conv_width(self) -> int:
        """Resolved conv channels (``conv_channels`` or ``input_dim``)."""
        return int(self.conv_channels or self.input_dim)

    @property
    def lstm_width(self) -> int:
        """Resolved LSTM hidden size per direction (``lstm_hidden`` or ``conv_width // 4``)."""
        return int(self.lstm_hidden or max(1, self.conv_width // 4))

    @property
    def has_onset_head(self) -> bool:
        """Whether the model carries the onset head (``onset_weight > 0``)."""
        return self.onset_weight > 0

    @property
    def window_frames(self) -> int:
        """Video frames per model window (300 for 10 s at 30 fps)."""
        return round_half_up(self.window_s * self.frame_rate)

    @property
    def window_envelope_frames(self) -> int:
        """Envelope frames per model window (1250 for 10 s)."""
        return self.n_envelope_frames_for_video_frames(self.window_frames)

    @property
    def alignment_frames(self) -> int:
        """Smallest video-frame step that is a whole number of envelope frames (6 at 30 / 125 fps).

        Window starts on multiples of it map to exact envelope frames. Falls
        back to 1 (half-frame rounding) for rates with no small common step.
        """
        ratio = Fraction(self.envelope_rate / self.frame_rate).limit_denominator(1000)  # 125 / 30 = 25 / 6
        step = ratio.denominator
        exact = abs(step * self.envelope_rate / self.frame_rate - ratio.numerator) < 1e-6
        return step if exact and step <= max(1, self.window_frames // 2) else 1

    @property
    def best_metric_higher_is_better(self) -> bool:
        """Whether a larger ``best_metric`` is better."""
        return self.best_metric in HIGHER_IS_BETTER

    def n_envelope_frames_for_video_frames(self, n_video_frames: int) -> int:
        """Envelope frames for ``n_video_frames``: ``round_half_up(T * envelope_rate / frame_rate)``."""
        if int(n_video_frames) != n_video_frames or n_video_frames < 1:
            raise ValueError(f"n_video_frames must be a positive integer, got {n_video_frames!r}")
        return max(1, round_half_up(n_video_frames * self.envelope_rate / self.frame_rate))

    def envelope_frame_of(self, video_frame: int) -> int:
        """Envelope frame that starts with video frame ``video_frame`` (``round(f * 125 / 30)``)."""
        return round_half_up(video_frame * self.envelope_rate / self.frame_rate)

    # --- JSON ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["upsample_factors"] = list(self.upsample_factors)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Video2RMSConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown Video2RMSConfig keys: {', '.join(unknown)}")
        return cls(**data)
