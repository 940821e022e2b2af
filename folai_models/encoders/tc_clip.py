"""TC-CLIP's vision tower (Kim et al., ECCV 2024) as FolAI's frame encoder.

TC-CLIP ("Leveraging Temporal Contextualization for Video Action Recognition",
code: naver-ai/tc-clip) is CLIP ViT-B/16 whose attention also sees a few
*context tokens* that summarise the whole clip. In every block:

1. each frame's tokens (CLS + patches) attend to themselves plus the context
   tokens of the previous block (none in block 0), with a learnable per-head
   bias for local (same frame) and global (context) keys;
2. each frame keeps the ``int(a * patches)`` patch tokens its CLS query attends
   to most (the *seed tokens*);
3. the seed tokens of all frames are merged by bipartite soft matching (ToMe)
   down to ``k`` context tokens, which join the block's MLP and are the extra
   keys/values of the next block.

FolAI takes the per-frame CLS tokens of the last block after ``ln_post`` and
``proj`` (512-d), for RGB frames and for optical-flow images with the same
weights, and concatenates them: [n, 1024]. The text side of TC-CLIP (prompt
learner, video-conditional prompting, text encoder) plays no part in these
features and is not built here; its checkpoint keys are ignored on loading.

This is our implementation, written from the paper and the authors' code
(clip/vision_transformer_tc.py, clip/transformer_blocks_tc.py,
clip/transformer.py, tome/merge.py, tome/utils.py); parameter names and
shapes match the released checkpoints, which load strictly.

Preprocessing the caller does (as TC-CLIP's evaluation pipeline,
datasets/build.py ``build_val_dataloader``): resize each frame so its shorter
side is 256 (= 224 * 256 / 224), centre-crop 224 x 224, RGB order, uint8.
Flow images get the same resize and crop. :meth:`TCCLIPEncoder.encode` does
the rest (scale to [0, 1], normalise, group frames into clips).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from folai_models.encoders.base import FrameEncoder, register_encoder

# --- ViT-B/16 sizes (openai/CLIP ViT-B-16.pt, read by TC-CLIP clip/model.py build_model) ---
VIT_B16_WIDTH = 768  # build_model: visual.conv1.weight.shape[0]
VIT_B16_LAYERS = 12  # build_model: number of visual ...attn.in_proj_weight keys
VIT_B16_HEADS = 12  # clip/model.py CLIP: vision_heads = vision_width // 64
VIT_B16_PATCH = 16  # configs/trainer/tc_clip.yaml: patch_size: 16
VIT_B16_IMAGE = 224  # configs/zero_shot.yaml (all protocols): input_size: 224
VIT_B16_OUTPUT = 512  # build_model: embed_dim = text_projection.shape[1]
MLP_RATIO = 4  # clip/transformer_blocks_tc.py TCAttentionBlock: c_fc d_model -> d_model * 4
QUICK_GELU_ALPHA = 1.702  # clip/model_utils.py QuickGELU: x * sigmoid(1.702 x)
LAYER_NORM_EPS = 1e-5  # clip/model_utils.py LayerNorm = nn.LayerNorm default eps

# --- TC-CLIP hyper-parameters (configs/trainer/tc_clip.yaml; defaults in trainers/build_trainer.py) ---
CONTEXT_TOKENS_K = 96  # context_token_k: 96, total number of context tokens
SEED_TOKEN_RATIO = 0.3  # seed_token_a: 0.3, share of a frame's patches kept as seed tokens
TOME_R = 100  # tome_r: 100, tokens merged per bipartite-matching step
TOME_D = 0.0  # tome_d: 0, r schedule inflection (0 = constant r in every layer)
LOCAL_GLOBAL_BIAS = True  # local_global_bias: true, learnable per-head local/global attention bias
POSITIONAL_EMBEDDING = "space"  # positional_embedding_type: space, one [grid**2 + 1, width] table for all frames
NUM_FRAMES = 16  # configs/{zero_shot,few_shot,base2novel,fully_supervised}.yaml: num_frames: 16

# --- Normalisation ---
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # openai/CLIP clip.py _transform Normalize
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)  # openai/CLIP clip.py _transform Normalize
# TC-CLIP datasets/build.py img_norm_cfg (mean/std 123.675.../58.395... over 255): what its checkpoints saw.
RESIZE_SHORTER_SIDE = 256  # tc-clip datasets/build.py (test pipeline): Resize(-1, 256) then CenterCrop 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZATIONS = {"clip": (CLIP_MEAN, CLIP_STD), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}

# Key prefixes of the released checkpoints: torch.save({"model": DDP(TCCLIP).state_dict(), ...})
# (utils/tools.py epoch_saving; main.py wraps the model in DistributedDataParallel).
CHECKPOINT_CONTAINERS = ("model", "state_dict")
DDP_PREFIX = "module."
VISION_PREFIX = "image_encoder."  # trainers/tc_clip.py: self.image_encoder = clip_model.visual


@dataclass(frozen=True)
class TCCLIPVisionConfig:
    """Sizes and TC hyper-parameters of the vision tower (defaults: the released ViT-B/16).

    Attributes
    ----------
    width, layers, heads, patch_size, image_size, output_dim : ViT sizes.
    context_tokens : k, context tokens kept after merging.
    seed_token_ratio : a, share of each frame's patch tokens kept as seeds.
    tome_r, tome_d : tokens merged per matching step and the r schedule's inflection.
    local_global_bias : whether blocks after the first learn a local/global attention bias.
    positional_embedding : "space" (shared by all frames) or "joint" (one table per frame).
    num_frames : frames per clip; only fixed by the weights when ``positional_embedding="joint"``.
    """

    width: int = VIT_B16_WIDTH
    layers: int = VIT_B16_LAYERS
    heads: int = VIT_B16_HEADS
    patch_size: int = VIT_B16_PATCH
    image_size: int = VIT_B16_IMAGE
    output_dim: int = VIT_B16_OUTPUT
    context_tokens: int = CONTEXT_TOKENS_K
    seed_token_ratio: float = SEED_TOKEN_RATIO
    tome_r: int = TOME_R
    tome_d: float = TOME_D
    local_global_bias: bool = LOCAL_GLOBAL_BIAS
    positional_embedding: str = POSITIONAL_EMBEDDING
    num_frames: int = NUM_FRAMES

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.positional_embedding not in ("space", "joint"):
            raise ValueError(f"positional_embedding must be 'space' or 'joint', not {self.positional_embedding!r}")
        if self.seeds_per_frame < 1:
            raise ValueError("seed_token_ratio * patches must keep at least one seed token per frame")
        if self.context_tokens < 1 or self.tome_r < 1 or self.layers < 1 or self.num_frames < 1:
            raise ValueError("context_tokens, tome_r, layers and num_frames must be positive")
        if min(merge_schedule(self.layers, self.tome_r, self.tome_d)[:-1], default=1) < 1:
            raise ValueError(f"tome_d {self.tome_d} gives a merge step of 0 tokens before the last layer")

    @property
    def num_patches(self) -> int:
        """Patch tokens per frame (196 for ViT-B/16 at 224)."""
        return (self.image_size // self.patch_size) ** 2

    @property
    def seeds_per_frame(self) -> int:
        """Seed tokens per frame: int(196 * 0.3) = 58 (clip/transformer_blocks_tc.py TCAttention.top_s)."""
        return int(self.num_patches * self.seed_token_ratio)


def merge_schedule(num_layers: int, r: int, inflection: float) -> list[int]:
    """Tokens merged per step in each layer (ToMe's r schedule; constant when ``inflection`` is 0)."""
    low = int(r * (1.0 - inflection))
    high = 2 * r - low
    step = (high - low) / (num_layers - 1) if num_layers > 1 else 0.0
    return [int(low + step * i) for i in range(num_layers)]


def merge_steps(start: int, final: int, r: int) -> list[int]:
    """How many tokens each matching step removes to go from ``start`` to ``final`` tokens.

    Full steps of ``r`` first (never more than half the tokens), then steps
    that land exactly on ``final``; nothing when ``start <= final``.
    """
    steps: list[int] = []
    count = start
    for _ in range(int((start - final) / r)):
        steps.append(min(r, count // 2))
        count -= steps[-1]
    while count > final:
        steps.append(min(count - final, count // 2))
        count -= steps[-1]
    return steps


def bipartite_merge(tokens: torch.Tensor, sizes: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One bipartite soft-matching step: merge ``r`` tokens into their most similar partners.

    Even-indexed tokens (set A) are matched to odd-indexed ones (set B) by
    cosine similarity; the ``r`` A tokens with the best matches are averaged
    into their B partners, weighted by ``sizes`` (tokens already merged into
    each). Output order: the unmerged A tokens by decreasing best similarity,
    then all B tokens.

    Parameters
    ----------
    tokens : [B, t, D] tokens.
    sizes : [B, t, 1] how many original tokens each one stands for.
    r : tokens to remove (at most t // 2).

    Returns
    -------
    (tokens [B, t - r, D], sizes [B, t - r, 1]).
    """
    r = min(r, tokens.shape[1] // 2)
    if r <= 0:
        return tokens, sizes
    unit = tokens / tokens.norm(dim=-1, keepdim=True)
    similarity = unit[:, ::2] @ unit[:, 1::2].transpose(1, 2)  # [B, |A|, |B|]
    best, partner = similarity.max(dim=-1)
    order = best.argsort(dim=-1, descending=True)[..., None]  # A tokens, best match first
    kept, moved = order[:, r:], order[:, :r]
    target = partner[..., None].gather(1, moved)

    def merge(values: torch.Tensor) -> torch.Tensor:
        set_a, set_b = values[:, ::2], values[:, 1::2]
        channels = values.shape[-1]
        unmerged = set_a.gather(1, kept.expand(-1, -1, channels))
        sources = set_a.gather(1, moved.expand(-1, -1, channels))
        set_b = set_b.scatter_reduce(1, target.expand(-1, -1, channels), sources, reduce="sum")
        return torch.cat([unmerged, set_b], dim=1)

    summed = merge(tokens * sizes)
    sizes = merge(sizes)
    return summed / sizes, sizes


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype (clip/model_utils.py LayerNorm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


class QuickGELU(nn.Module):
    """CLIP's GELU approximation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(QUICK_GELU_ALPHA * x)


class TCAttention(nn.Module):
    """Per-frame attention whose keys/values also hold the clip's context tokens.

    Parameters (checkpoint names): ``q_proj``, ``k_proj``, ``v_proj``,
    ``out_proj`` (separate projections: TC-CLIP splits CLIP's
    ``in_proj_weight``) and, in every block but the first,
    ``local_global_bias_table`` [heads, 1, 2] (per-head bias added to the
    logits of same-frame keys [..., 0] and of context keys [..., 1]).
    """

    def __init__(self, config: TCCLIPVisionConfig, first_layer: bool) -> None:
        super().__init__()
        width = config.width
        self.heads = config.heads
        self.num_patches = config.num_patches
        self.seeds_per_frame = config.seeds_per_frame
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)
        if config.local_global_bias and not first_layer:
            self.local_global_bias_table = nn.Parameter(torch.zeros(config.heads, 1, 2))
        else:
            self.local_global_bias_table = None

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        frames, length, width = x.shape
        return x.reshape(frames, length, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend within each frame and to the context tokens.

        Parameters
        ----------
        x : [B, T*N (+ k), D] normalised tokens: T frames of N = 1 + patches tokens, then k context tokens.
        frames : T.

        Returns
        -------
        (out [B, T*N, D], seed index [B, T, seeds_per_frame] of each frame's top patches by CLS attention).
        """
        batch, _, width = x.shape
        tokens = 1 + self.num_patches
        local = frames * tokens
        q = self.q_proj(x[:, :local]).reshape(batch * frames, tokens, width)
        k = self.k_proj(x)
        v = self.v_proj(x)
        k_frames = k[:, :local].reshape(batch * frames, tokens, width)
        v_frames = v[:, :local].reshape(batch * frames, tokens, width)
        context = x.shape[1] - local
        if context:  # every frame sees the same context keys/values
            k_ctx = k[:, local:].unsqueeze(1).expand(-1, frames, -1, -1).reshape(batch * frames, context, width)
            v_ctx = v[:, local:].unsqueeze(1).expand(-1, frames, -1, -1).reshape(batch * frames, context, width)
            k_frames = torch.cat([k_frames, k_ctx], dim=1)
            v_frames = torch.cat([v_frames, v_ctx], dim=1)
        q, k, v = self._split_heads(q), self._split_heads(k_frames), self._split_heads(v_frames)

        bias = None
        if self.local_global_bias_table is not None:
            table = self.local_global_bias_table.to(q.dtype)  # [heads, 1, 2]
            bias = torch.cat([table[..., :1].expand(-1, 1, tokens), table[..., 1:].expand(-1, 1, context)], dim=-1)
            bias = bias.unsqueeze(0)  # [1, heads, 1, N + k], the same for every query
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = self.out_proj(out.transpose(1, 2).reshape(batch, local, width))

        # Seed tokens: each frame's patches its CLS query attends to most (mean over heads).
        logits = (q[:, :, :1] * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # [B*T, heads, 1, N + k]
        if bias is not None:
            logits = logits + bias
        cls_attention = logits.softmax(dim=-1)[:, :, 0, 1 : 1 + self.num_patches].mean(dim=1)
        seeds = cls_attention.reshape(batch, frames, self.num_patches).topk(self.seeds_per_frame, dim=-1).indices
        return out, seeds


class TCAttentionBlock(nn.Module):
    """Pre-norm block: TC attention, context-token summarisation, MLP over frames and context tokens."""

    def __init__(self, config: TCCLIPVisionConfig, first_layer: bool) -> None:
        super().__init__()
        width = config.width
        self.config = config
        self.attn = TCAttention(config, first_layer)
        self.ln_1 = LayerNorm(width, eps=LAYER_NORM_EPS)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, width * MLP_RATIO)),
                    ("gelu", QuickGELU()),
                    ("c_proj", nn.Linear(width * MLP_RATIO, width)),
                ]
            )
        )
        self.ln_2 = LayerNorm(width, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, frames: int, merge_r: int | None) -> torch.Tensor:
        """[B, T*N (+ k), D] -> [B, T*N + k', D]; ``merge_r=None`` skips the context tokens (last block)."""
        local = frames * (1 + self.config.num_patches)
        attended, seeds = self.attn(self.ln_1(x), frames)
        x = x[:, :local] + attended  # the previous context tokens are replaced, not carried
        if merge_r is not None:
            x = torch.cat([x, self.summarize(x, seeds, frames, merge_r)], dim=1)
        return x + self.mlp(self.ln_2(x))

    def summarize(self, x: torch.Tensor, seeds: torch.Tensor, frames: int, merge_r: int) -> torch.Tensor:
        """Gather every frame's seed patch tokens and merge them down to ``context_tokens`` tokens."""
        batch, _, width = x.shape
        patches = self.config.num_patches
        patch_tokens = x.reshape(batch, frames, 1 + patches, width)[:, :, 1:].reshape(batch, frames * patches, width)
        offsets = torch.arange(frames, device=x.device).view(1, frames, 1) * patches
        index = (seeds + offsets).reshape(batch, -1, 1).expand(-1, -1, width)  # frame-major, best seed first
        tokens = patch_tokens.gather(1, index)
        sizes = torch.ones_like(tokens[..., :1])
        for r in merge_steps(tokens.shape[1], self.config.context_tokens, merge_r):
            tokens, sizes = bipartite_merge(tokens, sizes, r)
        return tokens


class Transformer(nn.Module):
    """The block stack (checkpoint names ``transformer.resblocks.N.*``)."""

    def __init__(self, config: TCCLIPVisionConfig) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[TCAttentionBlock(config, first_layer=i == 0) for i in range(config.layers)])
        self.merge_r = merge_schedule(config.layers, config.tome_r, config.tome_d)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        last = len(self.resblocks) - 1
        for i, block in enumerate(self.resblocks):
            # The last block's context tokens feed nothing that reaches the CLS tokens: skip them.
            x = block(x, frames, None if i == last else self.merge_r[i])
        return x


class TCVisionTransformer(nn.Module):
    """TC-CLIP's vision tower: clips [B, T, 3, H, W] -> per-frame features [B, T, output_dim].

    Parameter names and shapes are those under ``image_encoder.`` in the
    released checkpoints: ``conv1.weight``, ``class_embedding``,
    ``positional_embedding``, ``ln_pre``, ``transformer.resblocks.N.*``,
    ``ln_post``, ``proj``.
    """

    def __init__(self, config: TCCLIPVisionConfig | None = None) -> None:
        super().__init__()
        config = config or TCCLIPVisionConfig()
        self.config = config
        width = config.width
        scale = width**-0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=config.patch_size, stride=config.patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        table = (config.num_patches + 1, width)
        if config.positional_embedding == "joint":
            table = (config.num_frames, *table)
        self.positional_embedding = nn.Parameter(scale * torch.randn(table))
        self.ln_pre = LayerNorm(width, eps=LAYER_NORM_EPS)
        self.transformer = Transformer(config)
        self.ln_post = LayerNorm(width, eps=LAYER_NORM_EPS)
        self.proj = nn.Parameter(scale * torch.randn(width, config.output_dim))
        self._init_blocks()

    def _init_blocks(self) -> None:
        """CLIP-style random init (pretrained weights replace it)."""
        width, layers = self.config.width, self.config.layers
        for block in self.transformer.resblocks:
            for linear in (block.attn.q_proj, block.attn.k_proj, block.attn.v_proj):
                nn.init.normal_(linear.weight, std=width**-0.5)
                nn.init.zeros_(linear.bias)
            nn.init.normal_(block.attn.out_proj.weight, std=width**-0.5 * (2 * layers) ** -0.5)
            nn.init.zeros_(block.attn.out_proj.bias)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
            nn.init.normal_(block.mlp.c_proj.weight, std=width**-0.5 * (2 * layers) ** -0.5)
            if block.attn.local_global_bias_table is not None:
                nn.init.trunc_normal_(block.attn.local_global_bias_table, std=0.02)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Encode normalised clips.

        Parameters
        ----------
        clips : [B, T, 3, image_size, image_size] normalised frames.

        Returns
        -------
        [B, T, output_dim]: each frame's CLS token of the last block after ``ln_post`` and ``proj``.
        """
        batch, frames, channels, height, width = clips.shape
        config = self.config
        if (height, width) != (config.image_size, config.image_size) or channels != 3:
            size = config.image_size
            raise ValueError(f"clips must be [B, T, 3, {size}, {size}], got {tuple(clips.shape)}")
        if config.positional_embedding == "joint" and frames != config.num_frames:
            raise ValueError(f"joint positional embedding needs {config.num_frames} frames per clip, got {frames}")
        dtype = self.conv1.weight.dtype
        x = self.conv1(clips.reshape(batch * frames, 3, height, width).to(dtype))
        x = x.flatten(2).transpose(1, 2)  # [B*T, patches, D]
        cls = self.class_embedding.to(dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        tokens = x.shape[1]
        x = x.reshape(batch, frames, tokens, -1) + self.positional_embedding.to(dtype)
        x = self.ln_pre(x.reshape(batch, frames * tokens, -1))
        x = self.transformer(x, frames)
        cls_tokens = x[:, : frames * tokens].reshape(batch, frames, tokens, -1)[:, :, 0]
        return self.ln_post(cls_tokens) @ self.proj.to(dtype)


def extract_vision_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The vision-tower entries of a TC-CLIP checkpoint, with the tower's own key names.

    Accepts the released file's content (``{"model": {"module.image_encoder.*", "module.text_encoder.*",
    "module.prompt_learner.*", "module.logit_scale"}, "epoch": ..., ...}``), its ``"model"`` dict, the
    same without ``module.``, or the bare tower state dict. Text-side keys are dropped.

    Raises
    ------
    ValueError : no vision-tower keys, or an OpenAI CLIP checkpoint (fused ``in_proj_weight``) instead of TC-CLIP.
    """
    state: Mapping[str, Any] = checkpoint
    for container in CHECKPOINT_CONTAINERS:
        inner = state.get(container) if isinstance(state, Mapping) else None
        if isinstance(inner, Mapping):
            state = inner
            break
    state = {(key[len(DDP_PREFIX) :] if key.startswith(DDP_PREFIX) else key): value for key, value in state.items()}
    if any(key.startswith(VISION_PREFIX) for key in state):
        state = {key[len(VISION_PREFIX) :]: value for key, value in state.items() if key.startswith(VISION_PREFIX)}
    elif "conv1.weight" not in state:
        raise ValueError(
            f"no TC-CLIP vision keys in the checkpoint (expected '{DDP_PREFIX}{VISION_PREFIX}conv1.weight' "
            f"under a {CHECKPOINT_CONTAINERS[0]!r} entry); first keys: {sorted(state)[:5]}"
        )
    if any(key.endswith("attn.in_proj_weight") for key in state):
        raise ValueError("this is an OpenAI CLIP state dict (fused attn.in_proj_weight), not a TC-CLIP checkpoint")
    return state


def check_state_dict(module: nn.Module, state: Mapping[str, Any]) -> None:
    """Raise one ValueError listing missing, unexpected and wrongly shaped keys (strict-load preconditions)."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in sorted(set(expected) & set(state))
        if tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
        if items:
            shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise ValueError("TC-CLIP vision weights do not fit the model: " + "; ".join(problems))


def clip_slots(
    count: int, clip_frames: int, grouping: str, shrink: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group ``count`` frames into clips of ``clip_frames``.

    Parameters
    ----------
    count : frames in the window.
    clip_frames : T.
    grouping : "strided": clip j holds frames j, j + S, j + 2S, ... with S = ceil(count / T), so every clip
        spans the whole window like TC-CLIP's training clips (T frames spread over a whole video);
        "consecutive": clip c holds frames cT .. cT + T - 1.
    shrink : a window shorter than T is one clip of just its frames (else padded to T).

    Returns
    -------
    (members [clips, T] frame indices, padded by repeating the last frame;
     clip [count] and position [count]: where each frame's own feature comes from).
    """
    if grouping not in ("strided", "consecutive"):
        raise ValueError(f"grouping must be 'strided' or 'consecutive', not {grouping!r}")
    frames = np.arange(count)
    if shrink:
        clip_frames = max(1, min(clip_frames, count))
    if grouping == "strided":
        stride = math.ceil(count / clip_frames)
        members = np.arange(stride)[:, None] + stride * np.arange(clip_frames)[None, :]
        clip, position = frames % stride, frames // stride
    else:
        clips = math.ceil(count / clip_frames)
        members = np.arange(clips * clip_frames).reshape(clips, clip_frames)
        clip, position = frames // clip_frames, frames % clip_frames
    return np.minimum(members, count - 1), clip, position


@register_encoder("tc_clip")
class TCCLIPEncoder(FrameEncoder):
    """TC-CLIP ViT-B/16 features of RGB frames and flow images: float32 [n, 2 * output_dim] (1024).

    Frames and flow images are encoded in clips of ``clip_frames`` frames
    (TC-CLIP's context tokens summarise each clip); every frame gets the
    feature of its own CLS token. FolAI feeds 300-frame (10 s at 30 fps)
    windows and says only "frame-wise features"; TC-CLIP was trained and
    evaluated on 16 frames spread uniformly over a whole video (segment
    sampling), so by default each window is cut into interleaved clips of 16
    frames ~S = ceil(n / 16) frames apart (19 frames ~ 0.63 s for 300), which
    keeps the training clips' temporal span; ``grouping="consecutive"`` takes
    16 adjacent frames (0.53 s) instead. Same weights for RGB and flow.

    Parameters
    ----------
    width, layers, heads, patch_size, image_size, output_dim, context_tokens, seed_token_ratio, tome_r, tome_d,
    local_global_bias, positional_embedding : see :class:`TCCLIPVisionConfig` (defaults: released ViT-B/16).
    clip_frames : T, frames per clip (TC-CLIP: 16).
    grouping : "strided" or "consecutive", see :func:`clip_slots`.
    normalization : "clip" (OpenAI CLIP mean/std) or "imagenet" (the mean/std of TC-CLIP's own data pipeline).
    device : torch device, "cpu" or "cuda".
    dtype : "float32", or "float16" / "bfloat16" on a GPU (LayerNorms still run in float32).
    batch_clips : clips per forward pass.
    seed : random-init seed (weights before :meth:`load_state_dict`).
    """

    feature_dim = 2 * VIT_B16_OUTPUT
    uses_flow = True
    input_size = (VIT_B16_IMAGE, VIT_B16_IMAGE)
    resize_shorter_side = RESIZE_SHORTER_SIDE
    weights_name = "tc-clip"

    def __init__(
        self,
        width: int = VIT_B16_WIDTH,
        layers: int = VIT_B16_LAYERS,
        heads: int = VIT_B16_HEADS,
        patch_size: int = VIT_B16_PATCH,
        image_size: int = VIT_B16_IMAGE,
        output_dim: int = VIT_B16_OUTPUT,
        context_tokens: int = CONTEXT_TOKENS_K,
        seed_token_ratio: float = SEED_TOKEN_RATIO,
        tome_r: int = TOME_R,
        tome_d: float = TOME_D,
        local_global_bias: bool = LOCAL_GLOBAL_BIAS,
        positional_embedding: str = POSITIONAL_EMBEDDING,
        clip_frames: int = NUM_FRAMES,
        grouping: str = "strided",
        normalization: str = "imagenet",
        device: str | torch.device = "cpu",
        dtype: str = "float32",
        batch_clips: int = 4,
        seed: int = 0,
    ) -> None:
        self.config = TCCLIPVisionConfig(
            width=width,
            layers=layers,
            heads=heads,
            patch_size=patch_size,
            image_size=image_size,
            output_dim=output_dim,
            context_tokens=context_tokens,
            seed_token_ratio=seed_token_ratio,
            tome_r=tome_r,
            tome_d=tome_d,
            local_global_bias=local_global_bias,
            positional_embedding=positional_embedding,
            num_frames=clip_frames,
        )
        clip_slots(1, clip_frames, grouping)  # validates grouping
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {sorted(NORMALIZATIONS)}, not {normalization!r}")
        self.device = torch.device(device)
        self.dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}.get(dtype)
        if self.dtype is None:
            raise ValueError(f"dtype must be float32, float16 or bfloat16, not {dtype!r}")
        if self.dtype != torch.float32 and self.device.type == "cpu":
            raise ValueError(f"{dtype} is for GPUs; use float32 on the CPU")
        if batch_clips < 1:
            raise ValueError("batch_clips must be positive")
        self.clip_frames = clip_frames
        self.grouping = grouping
        self.normalization = normalization
        self.batch_clips = batch_clips
        self.feature_dim = 2 * output_dim
        self.input_size = (image_size, image_size)
        if self.config != TCCLIPVisionConfig(num_frames=clip_frames):
            self.weights_name = None  # a custom size has no released weights
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = TCVisionTransformer(self.config)
        self.model.eval().requires_grad_(False).to(self.device, self.dtype)
        mean, std = NORMALIZATIONS[normalization]
        self._mean = torch.tensor(mean, device=self.device).view(1, 1, 3, 1, 1)
        self._std = torch.tensor(std, device=self.device).view(1, 1, 3, 1, 1)
        self._weights_hash: str | None = None

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load the vision tower from a released TC-CLIP checkpoint (or its vision part), strictly.

        Raises
        ------
        ValueError : no vision keys, or missing / unexpected / wrongly shaped keys.
        """
        state = extract_vision_state_dict(state_dict)
        check_state_dict(self.model, state)
        self.model.load_state_dict(state, strict=True)
        self.model.to(self.device, self.dtype)
        digest = hashlib.sha256()
        for key in sorted(state):
            tensor = torch.as_tensor(state[key]).detach().cpu().contiguous()
            digest.update(f"{key}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        self._weights_hash = digest.hexdigest()

    def revision(self) -> str:
        """'random' before loading; else a hash of the weights and of the settings that change the features."""
        if self._weights_hash is None:
            return "random"
        settings = asdict(self.config) | {
            "grouping": self.grouping,
            "normalization": self.normalization,
            "dtype": str(self.dtype),
        }
        key = self._weights_hash + repr(sorted(settings.items()))
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _check(self, images: np.ndarray | None, what: str) -> np.ndarray:
        if images is None:
            raise ValueError(f"the tc_clip encoder needs {what}")
        images = np.asarray(images)
        expected = (*self.input_size, 3)
        if images.ndim != 4 or images.shape[1:] != expected or images.dtype != np.uint8:
            raise ValueError(
                f"{what} must be uint8 [n, {expected[0]}, {expected[1]}, 3], got {images.dtype} {images.shape}"
            )
        return images

    @torch.inference_mode()
    def _encode_stream(self, images: np.ndarray) -> np.ndarray:
        """Per-frame features [n, output_dim] of one stream (RGB frames or flow images)."""
        joint = self.config.positional_embedding == "joint"  # its weights fix T
        members, clip, position = clip_slots(len(images), self.clip_frames, self.grouping, shrink=not joint)
        pixels = torch.from_numpy(images)
        outputs = []
        for start in range(0, len(members), self.batch_clips):
            index = torch.from_numpy(members[start : start + self.batch_clips])
            batch = pixels[index].to(self.device)  # [b, T, H, W, 3] uint8
            batch = batch.permute(0, 1, 4, 2, 3).float().div_(255.0)
            batch = ((batch - self._mean) / self._std).to(self.dtype)
            outputs.append(self.model(batch).float().cpu())
        features = torch.cat(outputs)  # [clips, T, output_dim]
        return features[torch.from_numpy(clip), torch.from_numpy(position)].numpy()

    def encode(self, frames: np.ndarray, flow_images: np.ndarray | None = None) -> np.ndarray:
        """Encode a window: frames and flow images [n, H, W, 3] uint8 (H = W = image_size) -> float32 [n, 1024].

        The caller resizes the shorter side to 256 and centre-crops 224 x 224
        (TC-CLIP's evaluation pipeline). Returns ``concat(rgb, flow)`` per
        frame: dims [0, 512) from the frames, [512, 1024) from the flow images.
        """
        frames = self._check(frames, "frames")
        flow_images = self._check(flow_images, "flow_images")
        if len(frames) != len(flow_images):
            raise ValueError(f"{len(frames)} frames but {len(flow_images)} flow images")
        if len(frames) == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        rgb = self._encode_stream(frames)
        flow = self._encode_stream(flow_images)
        return np.concatenate([rgb, flow], axis=1).astype(np.float32, copy=False)
