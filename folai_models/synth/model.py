"""FolAI's audio synthesis model (IV-D): frozen Stable Audio Open + DiT ControlNet + semantic conditions.

Conditioning, as FolAI describes it:

- temporal control: the RMS envelope at audio rate, stereo, encoded by the
  frozen VAE, into the ControlNet (:mod:`folai_models.synth.control_signal`);
- semantic control by cross-attention: one CLAP embedding (audio in training,
  audio or text at inference: the shared CLAP space) and CAVP video
  embeddings at 4 fps, each projected to the DiT's conditioning width;
- duration: SAO's own ``seconds_start`` / ``seconds_total`` number
  conditioners (cross-attention tokens and the prepended global token).

Classifier-free guidance drops the semantic tokens (CLAP, CAVP) in the
unconditional branch and keeps the control and the timing in both.
The base model (DiT, VAE, number conditioners) is frozen; the ControlNet and
the two semantic projections (new layers: SAO has no CLAP/CAVP inputs) train.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from folai_models.rates import CAVP_FRAME_RATE
from folai_models.synth import sao
from folai_models.synth.controlnet import DEPTH_FACTOR, RESIDUAL_AT, DiTControlNet, controlled_dit_forward

CLAP_DIM = 512  # LAION-CLAP joint audio-text embedding width (HTSAT-tiny / RoBERTa projections)
CAVP_DIM = 512  # Diff-Foley CAVP video embedding width per frame
CFG_DROPOUT_PROB = 0.1  # stable-audio-tools' default cfg_dropout_prob in its DiT training wrapper
CFG_SCALE = 2.0  # FolAI V-B: classifier-free guidance scale 2 at inference


@dataclass
class FolAISynthConfig:
    """Everything needed to rebuild a :class:`FolAISynth` (stored with each checkpoint).

    Parameters
    ----------
    base : dict
        The stable-audio-tools model config of the base model (SAO 1.0's by default).
    depth_factor, n_blocks : ControlNet size (see :func:`~folai_models.synth.controlnet.n_control_blocks`).
    residual_at : where the ControlNet's residuals join the frozen blocks (``input`` or ``output``).
    clap_dim, cavp_dim : widths of the semantic embeddings (0 disables that condition).
    cavp_fps : frame rate of the CAVP embeddings.
    cfg_dropout_prob : probability of training with the semantic tokens dropped.
    """

    base: dict = field(default_factory=lambda: sao.load_config())
    depth_factor: float = DEPTH_FACTOR
    n_blocks: int | None = None
    residual_at: str = RESIDUAL_AT
    clap_dim: int = CLAP_DIM
    cavp_dim: int = CAVP_DIM
    cavp_fps: float = CAVP_FRAME_RATE
    cfg_dropout_prob: float = CFG_DROPOUT_PROB

    def to_dict(self) -> dict:
        return copy.deepcopy(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "FolAISynthConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown FolAI synth config fields: {sorted(unknown)}")
        return cls(**copy.deepcopy(data))

    @property
    def sample_rate(self) -> int:
        return int(self.base["sample_rate"])

    @property
    def audio_channels(self) -> int:
        return int(self.base.get("audio_channels", 2))


@dataclass
class Conditioning:
    """The DiT's conditioning inputs for one batch.

    ``semantic`` ([batch, n, cond_dim] or None) is what CFG drops; ``timing``
    ([batch, 2, cond_dim]) and ``global_embed`` ([batch, global_dim]) stay.
    """

    semantic: torch.Tensor | None
    timing: torch.Tensor | None
    global_embed: torch.Tensor | None
    has_semantic: bool = True  # False: every semantic input was null, so guidance has nothing to amplify

    def cross_attention(self, drop_semantic: bool = False) -> torch.Tensor | None:
        parts = []
        if self.semantic is not None:
            parts.append(torch.zeros_like(self.semantic) if drop_semantic else self.semantic)
        if self.timing is not None:
            parts.append(self.timing)
        return torch.cat(parts, dim=1) if parts else None


class FolAISynth(nn.Module):
    """Frozen SAO base, trainable ControlNet and semantic projections.

    Build it with :func:`create_folai_synth_from_config`.
    """

    def __init__(self, config: FolAISynthConfig, base: nn.Module):
        super().__init__()
        self.config = config
        self.base = base
        self.base.requires_grad_(False).eval()
        dit = sao.dit_of(base)
        self.controlnet = DiTControlNet(dit, depth_factor=config.depth_factor, n_blocks=config.n_blocks,
                                        control_channels=dit.preprocess_conv.in_channels,
                                        residual_at=config.residual_at)
        # what a trained checkpoint was conditioned on (set by its loader): inference supplies the same
        self.conditioned_on_cavp = False
        cond_dim = dit.cond_token_dim
        self.semantic = nn.ModuleDict()
        if config.clap_dim and cond_dim:
            self.semantic["clap"] = nn.Linear(config.clap_dim, cond_dim)
        if config.cavp_dim and cond_dim:
            self.semantic["cavp"] = nn.Linear(config.cavp_dim, cond_dim)

    # -- properties -----------------------------------------------------------------------

    @property
    def dit(self):
        return sao.dit_of(self.base)

    @property
    def pretransform(self):
        return self.base.pretransform

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def dtype(self) -> torch.dtype:
        return next(self.dit.parameters()).dtype

    @property
    def downsampling_ratio(self) -> int:
        return sao.downsampling_ratio(self.base)

    @property
    def latent_channels(self) -> int:
        return int(self.base.io_channels)

    def train(self, mode: bool = True):
        super().train(mode)
        self.base.eval()  # frozen: no dropout / norm statistics change in training
        return self

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights a ControlNet checkpoint holds: ``controlnet.*`` and ``semantic.*``."""
        return {k: v for k, v in self.state_dict().items() if k.startswith(("controlnet.", "semantic."))}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [*self.controlnet.parameters(), *self.semantic.parameters()]

    # -- checkpoints ----------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, state: dict[str, torch.Tensor], metadata: dict, *,
                        load_base: Callable[["FolAISynth"], None] | None = None) -> "FolAISynth":
        """The model a ControlNet checkpoint describes, in eval mode (on the CPU).

        Parameters
        ----------
        state : the checkpoint's tensors (:class:`ControlNetWeights`: ``controlnet.*``, ``semantic.*``).
        metadata : its sidecar: ``config`` (a :meth:`FolAISynthConfig.to_dict`) and ``extra["cavp"]``
            (whether it was trained on CAVP embeddings: inference supplies the same).
        load_base : loads the pretrained base weights into the new model (e.g. Stable Audio Open's,
            :func:`load_base_weights`). It runs before the ControlNet's weights are loaded, since
            loading the base re-copies the ControlNet's blocks from it. Without it the base keeps
            random weights (tests).

        Raises
        ------
        ValueError
            The config is invalid or the ControlNet's weights do not fit it (loaded strictly).
        """
        try:
            config = FolAISynthConfig.from_dict(metadata["config"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"invalid model config ({error})") from None
        model = create_folai_synth_from_config(config)
        if load_base is not None:
            load_base(model)
        model.load_controlnet_state(state)
        model.conditioned_on_cavp = bool(metadata.get("extra", {}).get("cavp"))
        return model.eval()

    def load_controlnet_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a ControlNet checkpoint's tensors into the ControlNet and semantic projections, strictly.

        Raises ValueError when they do not fit the configured ControlNet.
        """
        try:
            ControlNetWeights(self).load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(f"weights do not fit the configured ControlNet ({error})") from None

    # -- latents --------------------------------------------------------------------------

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """Latents of audio ``[batch, channels, samples]`` (the VAE samples its posterior, as in training)."""
        with torch.no_grad():
            return self.pretransform.encode(audio.to(self.dtype))

    def encode_control(self, control_audio: torch.Tensor) -> torch.Tensor:
        """Latent of an audio-rate control signal; the VAE's posterior mean, so it is deterministic."""
        from folai_models.synth.control_signal import encode_deterministic

        with torch.no_grad():
            return encode_deterministic(self.pretransform, control_audio)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.pretransform.decode(latents.to(self.dtype))

    # -- conditioning ---------------------------------------------------------------------

    def conditioning(self, batch_size: int, *, seconds_start: float | Sequence[float] = 0.0,
                     seconds_total: float | Sequence[float] = 10.0, clap: torch.Tensor | None = None,
                     cavp: torch.Tensor | None = None, device: torch.device | str = "cpu") -> Conditioning:
        """Conditioning for a batch.

        Parameters
        ----------
        batch_size : int
        seconds_start, seconds_total : float or one per item
            Where the window starts in its clip and the clip's length (SAO's timing conditions).
        clap : tensor [batch, clap_dim], optional
            CLAP embedding (audio or text); None: the null (dropped) condition.
        cavp : tensor [batch, frames, cavp_dim], optional
            CAVP video embeddings at ``cavp_fps``; None: the null condition.
        """
        def per_item(value):
            return [float(v) for v in value] if isinstance(value, Sequence) else [float(value)] * batch_size

        timing = global_embed = None
        conditioner = self.base.conditioner
        if conditioner is not None:
            metadata = [{"seconds_start": s, "seconds_total": total}
                        for s, total in zip(per_item(seconds_start), per_item(seconds_total))]
            with torch.no_grad():
                tensors = conditioner(metadata, device)
                inputs = self.base.get_conditioning_inputs(tensors)
            timing, global_embed = inputs.get("cross_attn_cond"), inputs.get("global_cond")
        dtype = next(self.dit.parameters()).dtype
        semantic = []
        if "clap" in self.semantic:
            embed = torch.zeros(batch_size, 1, self.config.clap_dim, device=device) if clap is None \
                else clap.reshape(batch_size, 1, -1).to(device)
            semantic.append(self._project("clap", embed, null=clap is None))
        if "cavp" in self.semantic:
            embed = torch.zeros(batch_size, 1, self.config.cavp_dim, device=device) if cavp is None \
                else cavp.to(device)
            semantic.append(self._project("cavp", embed, null=cavp is None))
        semantic_tokens = torch.cat(semantic, dim=1).to(dtype) if semantic else None
        return Conditioning(semantic_tokens, timing, global_embed, has_semantic=clap is not None or cavp is not None)

    def _project(self, name: str, embed: torch.Tensor, null: bool) -> torch.Tensor:
        projected = self.semantic[name](embed.to(self.semantic[name].weight.dtype))
        # the null condition is all zeros after projection, like stable-audio-tools' CFG null embedding
        return torch.zeros_like(projected) if null else projected

    # -- denoising ------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Conditioning, control: torch.Tensor | None, *,
                drop_semantic: bool = False, control_scale: float = 1.0,
                block_scales: Sequence[float] | None = None, use_controlnet: bool = True,
                gradient_checkpointing: bool = False) -> torch.Tensor:
        """One v-prediction (no guidance)."""
        return controlled_dit_forward(
            self.dit, self.controlnet if use_controlnet else None, x, t,
            cross_attn_cond=cond.cross_attention(drop_semantic), global_embed=cond.global_embed,
            control=control, control_scale=control_scale, block_scales=block_scales,
            gradient_checkpointing=gradient_checkpointing)

    def guided(self, x: torch.Tensor, t: torch.Tensor, cond: Conditioning, control: torch.Tensor | None, *,
               cfg_scale: float = CFG_SCALE, **kwargs: Any) -> torch.Tensor:
        """v-prediction with classifier-free guidance; the control stays in both branches.

        ``uncond + cfg_scale * (cond - uncond)``, the unconditional branch
        having its semantic tokens dropped. Both branches run as one batch.
        """
        if cfg_scale == 1.0 or cond.semantic is None or not cond.has_semantic:
            return self(x, t, cond, control, **kwargs)
        both = Conditioning(torch.cat([cond.semantic, torch.zeros_like(cond.semantic)]),
                            None if cond.timing is None else torch.cat([cond.timing] * 2),
                            None if cond.global_embed is None else torch.cat([cond.global_embed] * 2))
        control2 = None if control is None else torch.cat([control, control])
        out = self(torch.cat([x, x]), torch.cat([t, t]), both, control2, **kwargs)
        conditional, unconditional = out.chunk(2)
        return unconditional + (conditional - unconditional) * cfg_scale


def create_folai_synth_from_config(config: FolAISynthConfig | dict) -> FolAISynth:
    """Build the model (random weights; load SAO's with :func:`load_base_weights`)."""
    if isinstance(config, dict):
        config = FolAISynthConfig.from_dict(config)
    return FolAISynth(config, sao.create_base_model(config.base))


def load_base_weights(model: FolAISynth, state_dict: dict[str, torch.Tensor], *, assign: bool = False) -> None:
    """Load SAO's ``model.safetensors`` into the frozen base, strictly.

    Then re-copies the ControlNet's blocks from the loaded DiT (a ControlNet
    starts as a copy of the *pretrained* blocks) while keeping its zero projections.
    """
    model.base.load_state_dict(state_dict, strict=True, assign=assign)
    model.base.requires_grad_(False)
    layers = model.dit.transformer.layers
    for index, block in enumerate(model.controlnet.blocks):
        block.load_state_dict(layers[index].state_dict(), strict=True, assign=assign)
        block.requires_grad_(True)


class ControlNetWeights(nn.Module):
    """What a ControlNet checkpoint holds: the model's ControlNet and semantic projections (shared, not copied)."""

    def __init__(self, model: FolAISynth):
        super().__init__()
        self.controlnet = model.controlnet
        self.semantic = model.semantic
