"""BN-Inception (Ioffe & Szegedy 2015) two-stream frame encoder, as RegNet and Video-Foley use it.

Architecture and parameter names follow the ImageNet checkpoint
``bn_inception-9f5701afb96c8044.pth`` (Y. Xiong, TSN), whose layout is the
network file ``bn_inception.yaml`` of TSN's ``tf_model_zoo`` (read in
uob-vil/tensorflow-model-zoo.torch ``bninception/bn_inception.yaml`` and
shuangshuangguo/DeepRFL ``tf_model_zoo/bninception/bn_inception.yaml``; the
same layers spelled out in Cadene/pretrained-models.pytorch
``pretrainedmodels/models/bninception.py``). Every convolution has a bias and
is followed by BatchNorm then ReLU; the classifier is ``fc`` (1000 classes).
The checkpoint stores each BatchNorm tensor as ``[1, C]`` (it predates PyTorch
0.4; yjxiong/tsn-pytorch issues #74, #97, #104), which
:func:`normalize_checkpoint` reshapes to ``[C]``.

Features: the 1024-d global average pool of ``inception_5b_output`` (the
``fc`` input), per frame, from two networks (RegNet ``extract_feature.py`` and
jnwnlee/video-foley ``preprocess/extract_feature.py``, both through
``tsn.models.TSN``):

* RGB: the frame resized to 224x224, **BGR**, range 0..255, minus the mean
  ``[104, 117, 128]`` (B, G, R), std 1.
* Flow: the x and y flow images (uint8, +-20 px -> 0..255) as 2 channels,
  minus 128, std 1. Its first convolution is the RGB one averaged over the
  colour channels and replicated to 2 channels (TSN "cross-modality
  initialisation", ``TSN._construct_flow_model``); all other weights are the
  ImageNet ones. That is how RegNet and Video-Foley build their flow network:
  no flow-trained BN-Inception weights are used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from folai_models.encoders.base import FrameEncoder, register_encoder

__all__ = [
    "BLOCKS",
    "BNInception",
    "BNInceptionEncoder",
    "InceptionSpec",
    "cross_modality_flow_net",
    "normalize_checkpoint",
    "preprocess_flow",
    "preprocess_rgb",
]

INPUT_SIZE = (224, 224)  # TSN models.py _prepare_base_model: input_size = 224 (RegNet resizes whole frames to it)
RGB_MEAN_BGR = (104.0, 117.0, 128.0)  # TSN/RegNet: input_mean [104, 117, 128] on BGR (Stack(roll=True)) 0..255
FLOW_MEAN = 128.0  # TSN/RegNet: Flow input_mean [128]; input_std [1] for both modalities
FLOW_CHANNELS = 2  # RegNet extract_feature.py: flow sample = (flow_x, flow_y), new_length 1
NUM_CLASSES = 1000  # bn_inception.yaml: fc InnerProduct num_output 1000 (ImageNet)
BN_EPS = 1e-5  # tf_model_zoo layer_factory.build_bn: nn.BatchNorm2d default eps
STEM_POOL = (3, 2)  # pool1_3x3_s2 / pool2_3x3_s2: max, kernel 3, stride 2, Caffe ceil mode
FIRST_CONV = "conv1_7x7_s2"  # the layer the flow network replaces (TSN _construct_flow_model)
CLASSIFIER_ALIASES = {"last_linear.": "fc."}  # Cadene's re-export names the classifier last_linear


@dataclass(frozen=True)
class InceptionSpec:
    """One inception block of bn_inception.yaml (layers ``inception_<name>_*``).

    Branches: 1x1; 3x3 after a 1x1 reduce; two 3x3 after a 1x1 reduce; a
    3x3 pool (then a 1x1 ``pool_proj``). Output = their concatenation.
    """

    name: str
    n1x1: int  # 0: no 1x1 branch (the grid-reduction blocks)
    n3x3_reduce: int
    n3x3: int
    n_double_reduce: int
    n_double: int  # both convs of the double-3x3 branch
    pool_proj: int  # 0: the pooled input is concatenated as is
    pool: str  # "avg" or "max"
    stride: int  # 2: the 3x3, second double-3x3 conv and the pool downsample


# bn_inception.yaml, block by block (num_output of each Convolution; pool mode/stride).
BLOCKS = (
    InceptionSpec("3a", 64, 64, 64, 64, 96, 32, "avg", 1),  # 192 -> 256
    InceptionSpec("3b", 64, 64, 96, 64, 96, 64, "avg", 1),  # 256 -> 320
    InceptionSpec("3c", 0, 128, 160, 64, 96, 0, "max", 2),  # 320 -> 576, 28 -> 14 px
    InceptionSpec("4a", 224, 64, 96, 96, 128, 128, "avg", 1),  # 576 -> 576
    InceptionSpec("4b", 192, 96, 128, 96, 128, 128, "avg", 1),  # 576 -> 576
    InceptionSpec("4c", 160, 128, 160, 128, 160, 128, "avg", 1),  # 576 -> 608
    InceptionSpec("4d", 96, 128, 192, 160, 192, 128, "avg", 1),  # 608 -> 608
    InceptionSpec("4e", 0, 128, 192, 192, 256, 0, "max", 2),  # 608 -> 1056, 14 -> 7 px
    InceptionSpec("5a", 352, 192, 320, 160, 224, 128, "avg", 1),  # 1056 -> 1024
    InceptionSpec("5b", 352, 192, 320, 192, 224, 128, "max", 1),  # 1024 -> 1024 (5b pools with max)
)
# bn_inception.yaml stem: (name, num_output, kernel, stride, pad); max pools after conv1 and conv2_3x3.
STEM = (("conv1_7x7_s2", 64, 7, 2, 3), ("conv2_3x3_reduce", 64, 1, 1, 0), ("conv2_3x3", 192, 3, 1, 1))


class BNInception(nn.Module):
    """BN-Inception up to the global pool (plus ``fc``), parameter names as in the checkpoint.

    Parameters
    ----------
    in_channels : 3 for RGB, 2 for a flow (x, y) pair.
    width_multiplier : scales every layer's channels (1.0 = the checkpoint;
        e.g. 1/16 for a tiny test network with the same structure and names).
    num_classes : size of ``fc``; 0 builds no classifier (features only).
    """

    def __init__(self, in_channels: int = 3, width_multiplier: float = 1.0, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if width_multiplier <= 0:
            raise ValueError(f"width_multiplier must be positive, got {width_multiplier}")
        self.in_channels = in_channels
        self.width_multiplier = width_multiplier
        channels = in_channels
        for name, out, kernel, stride, pad in STEM:
            channels = self._conv_bn(name, channels, self._width(out), kernel, stride, pad)
        self.blocks = tuple(self._scaled(spec) for spec in BLOCKS)
        for spec in self.blocks:
            channels = self._inception(spec, channels)
        self.out_channels = channels
        self.fc = nn.Linear(channels, num_classes) if num_classes else None

    def _width(self, channels: int) -> int:
        return max(1, int(round(channels * self.width_multiplier)))

    def _scaled(self, spec: InceptionSpec) -> InceptionSpec:
        w = self._width
        return replace(
            spec,
            n1x1=w(spec.n1x1) if spec.n1x1 else 0,
            n3x3_reduce=w(spec.n3x3_reduce),
            n3x3=w(spec.n3x3),
            n_double_reduce=w(spec.n_double_reduce),
            n_double=w(spec.n_double),
            pool_proj=w(spec.pool_proj) if spec.pool_proj else 0,
        )

    def _conv_bn(self, name: str, cin: int, cout: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
        setattr(self, name, nn.Conv2d(cin, cout, kernel, stride, pad, bias=True))
        setattr(self, name + "_bn", nn.BatchNorm2d(cout, eps=BN_EPS))
        return cout

    def _inception(self, s: InceptionSpec, cin: int) -> int:
        p = f"inception_{s.name}_"
        if s.n1x1:
            self._conv_bn(p + "1x1", cin, s.n1x1, 1)
        self._conv_bn(p + "3x3_reduce", cin, s.n3x3_reduce, 1)
        self._conv_bn(p + "3x3", s.n3x3_reduce, s.n3x3, 3, s.stride, 1)
        self._conv_bn(p + "double_3x3_reduce", cin, s.n_double_reduce, 1)
        self._conv_bn(p + "double_3x3_1", s.n_double_reduce, s.n_double, 3, 1, 1)
        self._conv_bn(p + "double_3x3_2", s.n_double, s.n_double, 3, s.stride, 1)
        if s.pool_proj:
            self._conv_bn(p + "pool_proj", cin, s.pool_proj, 1)
        return s.n1x1 + s.n3x3 + s.n_double + (s.pool_proj or cin)

    def _cbr(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return F.relu(getattr(self, name + "_bn")(getattr(self, name)(x)))

    def _block(self, s: InceptionSpec, x: torch.Tensor) -> torch.Tensor:
        p = f"inception_{s.name}_"
        outs = [self._cbr(p + "1x1", x)] if s.n1x1 else []
        outs.append(self._cbr(p + "3x3", self._cbr(p + "3x3_reduce", x)))
        double = self._cbr(p + "double_3x3_1", self._cbr(p + "double_3x3_reduce", x))
        outs.append(self._cbr(p + "double_3x3_2", double))
        if s.stride == 2:
            pooled = F.max_pool2d(x, 3, 2, ceil_mode=True)
        elif s.pool == "avg":  # Caffe AVE pooling counts the padding (layer_factory: nn.AvgPool2d defaults)
            pooled = F.avg_pool2d(x, 3, 1, 1, ceil_mode=True, count_include_pad=True)
        else:
            pooled = F.max_pool2d(x, 3, 1, 1, ceil_mode=True)
        outs.append(self._cbr(p + "pool_proj", pooled) if s.pool_proj else pooled)
        return torch.cat(outs, dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[n, in_channels, 224, 224] preprocessed -> [n, out_channels] global average pool."""
        x = F.max_pool2d(self._cbr("conv1_7x7_s2", x), *STEM_POOL, ceil_mode=True)
        x = self._cbr("conv2_3x3", self._cbr("conv2_3x3_reduce", x))
        x = F.max_pool2d(x, *STEM_POOL, ceil_mode=True)
        for spec in self.blocks:
            x = self._block(spec, x)
        return x.mean(dim=(2, 3))  # = global_pool (ave 7x7 on the 7x7 map at 224 px)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (needs ``fc``)."""
        if self.fc is None:
            raise RuntimeError("this BNInception has no classifier (num_classes=0)")
        return self.fc(self.features(x))


def cross_modality_flow_net(rgb: BNInception, flow_channels: int = FLOW_CHANNELS) -> BNInception:
    """The flow network TSN derives from an RGB one (cross-modality initialisation).

    ``conv1_7x7_s2.weight`` is averaged over the RGB channels and replicated
    ``flow_channels`` times; its bias and every other layer are copied. No
    classifier (TSN ``_construct_flow_model``; RegNet ``tsn/models.py``).
    """
    flow = BNInception(flow_channels, rgb.width_multiplier, num_classes=0)
    state = {k: v for k, v in rgb.state_dict().items() if not k.startswith("fc.")}
    weight = state[FIRST_CONV + ".weight"]
    state[FIRST_CONV + ".weight"] = weight.mean(dim=1, keepdim=True).expand(-1, flow_channels, -1, -1).contiguous()
    flow.load_state_dict(state, strict=True)
    return flow


def normalize_checkpoint(state_dict: Mapping[str, Any], expected: Mapping[str, torch.Size]) -> dict[str, torch.Tensor]:
    """Checkpoint tensors -> our names and shapes, then check them against ``expected``.

    Reshapes the official ``[1, C]`` BatchNorm tensors to ``[C]``, renames
    ``last_linear.*`` to ``fc.*``, adds ``num_batches_tracked`` (absent from
    pre-0.4 checkpoints, unused in eval). Raises ValueError naming every
    missing, unexpected or mis-shaped entry.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        for alias, name in CLASSIFIER_ALIASES.items():
            if key.startswith(alias):
                key = name + key[len(alias) :]
        tensor = torch.as_tensor(np.asarray(value)) if not isinstance(value, torch.Tensor) else value
        want = expected.get(key)
        if want is not None and len(want) == 1 and tuple(tensor.shape) == (1, want[0]):
            tensor = tensor.reshape(want)
        out[key] = tensor
    for key in expected:
        if key.endswith(".num_batches_tracked") and key not in out:
            out[key] = torch.zeros((), dtype=torch.long)
    missing = sorted(set(expected) - set(out))
    unexpected = sorted(set(out) - set(expected))
    wrong = sorted(
        f"{k}: got {list(out[k].shape)}, expected {list(expected[k])}"
        for k in set(out) & set(expected)
        if tuple(out[k].shape) != tuple(expected[k])
    )
    problems = [
        f"{label} ({len(items)}): {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}"
        for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong))
        if items
    ]
    if problems:
        raise ValueError("BN-Inception state dict does not match the network: " + "; ".join(problems))
    return out


def preprocess_rgb(frames: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB uint8 [n, H, W, 3] -> float [n, 3, H, W]: BGR, 0..255 minus RGB_MEAN_BGR (TSN/RegNet)."""
    x = torch.from_numpy(np.ascontiguousarray(frames[..., ::-1])).to(device).float()
    x -= torch.tensor(RGB_MEAN_BGR, device=x.device)
    return x.permute(0, 3, 1, 2).contiguous()


def preprocess_flow(flow_images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """Flow images uint8 [n, H, W, >=2] (x, y levels) -> float [n, 2, H, W] minus FLOW_MEAN (TSN/RegNet)."""
    x = torch.from_numpy(np.ascontiguousarray(flow_images[..., :FLOW_CHANNELS])).to(device).float() - FLOW_MEAN
    return x.permute(0, 3, 1, 2).contiguous()


def _digest(*states: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for state in states:
        for key in sorted(state):
            t = state[key].detach().cpu().contiguous()
            h.update(f"{key}:{list(t.shape)}:{t.dtype}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


@register_encoder("bn_inception")
class BNInceptionEncoder(FrameEncoder):
    """1024 RGB + 1024 flow features per frame (RegNet / Video-Foley's BN-Inception).

    Parameters
    ----------
    width_multiplier : channel scale; 1.0 matches the ImageNet checkpoint.
    device : torch device the networks run on.
    batch_size : frames per forward pass.
    seed : seed of the random initialisation used until weights are loaded.
    """

    feature_dim = 2 * 1024  # inception_5b_output channels, per stream
    uses_flow = True
    input_size = INPUT_SIZE
    center_crop = False  # RegNet / Video-Foley squash the whole frame to 224 x 224
    weights_name = "bn-inception"

    def __init__(
        self, *, width_multiplier: float = 1.0, device: str = "cpu", batch_size: int = 32, seed: int = 0
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            rgb = BNInception(3, width_multiplier)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self._set_networks(rgb, cross_modality_flow_net(rgb))
        self.feature_dim = 2 * rgb.out_channels
        self._revision = "random"

    def _set_networks(self, rgb: BNInception, flow: BNInception) -> None:
        self.rgb_net = rgb.to(self.device).eval()
        self.flow_net = flow.to(self.device).eval()

    def load_state_dict(
        self, state_dict: Mapping[str, Any], flow_state_dict: Mapping[str, Any] | None = None
    ) -> None:
        """Load the ImageNet checkpoint (strict) into the RGB network and derive the flow network.

        ``flow_state_dict`` (optional): flow-trained weights with a 2-channel
        ``conv1_7x7_s2`` (fc optional), loaded strictly instead of deriving.
        """
        rgb = BNInception(3, self.rgb_net.width_multiplier)
        rgb_state = normalize_checkpoint(state_dict, {k: v.shape for k, v in rgb.state_dict().items()})
        rgb.load_state_dict(rgb_state, strict=True)
        if flow_state_dict is None:
            flow, states = cross_modality_flow_net(rgb), (rgb_state,)
        else:
            flow = BNInception(FLOW_CHANNELS, rgb.width_multiplier, num_classes=0)
            given = {k: v for k, v in flow_state_dict.items() if not k.startswith(("fc.", "last_linear."))}
            flow_state = normalize_checkpoint(given, {k: v.shape for k, v in flow.state_dict().items()})
            flow.load_state_dict(flow_state, strict=True)
            states = (rgb_state, flow_state)
        self._set_networks(rgb, flow)
        self._revision = _digest(*states)

    def revision(self) -> str:
        """'random' until weights are loaded, then a sha256 prefix of them."""
        return self._revision

    def encode(self, frames: np.ndarray, flow_images: np.ndarray | None = None) -> np.ndarray:
        """[n, 224, 224, 3] uint8 frames and flow images -> float32 [n, feature_dim] (RGB then flow)."""
        frames = _check_images(frames, "frames", self.input_size)
        if flow_images is None:
            raise ValueError("bn_inception needs flow images (uses_flow=True)")
        flow_images = _check_images(flow_images, "flow_images", self.input_size)
        if len(flow_images) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(flow_images)} flow images")
        out = np.empty((len(frames), self.feature_dim), dtype=np.float32)
        half = self.rgb_net.out_channels
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                stop = start + self.batch_size
                rgb = self.rgb_net.features(preprocess_rgb(frames[start:stop], self.device))
                flow = self.flow_net.features(preprocess_flow(flow_images[start:stop], self.device))
                out[start:stop, :half] = rgb.float().cpu().numpy()
                out[start:stop, half:] = flow.float().cpu().numpy()
        return out


def _check_images(images: np.ndarray, what: str, size: tuple[int, int]) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or tuple(images.shape[1:3]) != tuple(size):
        raise ValueError(f"{what} must be [n, {size[0]}, {size[1]}, 3], got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8, got {images.dtype}")
    return images
