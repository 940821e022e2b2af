"""The Video2RMS network: frame features [B, T, D] -> envelope-class logits [B, n_out, C].

Architecture (FolAI IV-C, Video-Foley III-C, both after RegNet's visual
encoder): three conv blocks (Conv1d, BatchNorm1d, ReLU, dropout), a 2-layer
bidirectional LSTM and a linear head to the 64 RMS classes. The two papers
bring the video frame rate (30 fps) to the envelope rate (125 fps)
differently:

- ``"folai"``: each conv block ends in an upsampling, ``T -> 2T -> 4T -> n_out``
  (300 -> 600 -> 1200 -> 1250 for 10 s), and the BiLSTM runs at the envelope
  rate. Works for any ``T``.
- ``"linear"``: the blocks keep ``T`` frames; after the BiLSTM a learned
  ``Linear(T, n_out)`` maps time (Video-Foley code: ``BiLSTM_projs[0]``). Its
  weight matrix fixes ``T``, so such a model takes exactly
  ``config.window_frames`` frames.

Ours, optional (``config.onset_weight > 0``): an onset head, a second linear
layer on the BiLSTM output giving one "a sound starts here" logit per envelope
frame (:meth:`Video2RMS.forward_with_onsets`). Without it the state dict is the
papers' model.

Differences from the authors' code: the head's logits are not passed through a
ReLU (their code does; cross-entropy wants unbounded logits) and layers keep
PyTorch's default initialisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from folai_models.video2rms.config import Video2RMSConfig, round_half_up

__all__ = ["ConvBlock", "Video2RMS", "create_video2rms_from_config"]


class ConvBlock(nn.Module):
    """Conv1d ("same" padding), BatchNorm1d, ReLU, dropout on [B, C, T]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm1d(out_channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(F.relu(self.norm(self.conv(x))))


class Video2RMS(nn.Module):
    """Frame features to per-envelope-frame class logits.

    Parameters
    ----------
    config : Video2RMSConfig
        Sizes and the upsampling variant.
    """

    def __init__(self, config: Video2RMSConfig) -> None:
        super().__init__()
        self.config = config
        width = config.conv_width
        dims = [config.input_dim] + [width] * config.n_conv_layers
        self.convs = nn.ModuleList(
            ConvBlock(dims[i], dims[i + 1], config.kernel_size, config.dropout) for i in range(config.n_conv_layers)
        )
        self.lstm = nn.LSTM(
            width, config.lstm_width, num_layers=config.lstm_layers, batch_first=True, bidirectional=True
        )
        self.time_projection = (
            nn.Linear(config.window_frames, config.window_envelope_frames) if config.upsampling == "linear" else None
        )
        self.head = nn.Linear(2 * config.lstm_width, config.n_classes)
        self.onset_head = nn.Linear(2 * config.lstm_width, 1) if config.has_onset_head else None

    @classmethod
    def from_checkpoint(cls, state: dict[str, torch.Tensor], metadata: dict) -> "Video2RMS":
        """The model a checkpoint holds, in eval mode (on the CPU; weights copied from ``state``).

        Parameters
        ----------
        state : the checkpoint's ``state_dict``.
        metadata : its sidecar; ``metadata["config"]`` is a :meth:`Video2RMSConfig.to_dict`.

        Raises
        ------
        ValueError
            The config is invalid or the weights do not fit it (loaded strictly).
        """
        try:
            config = Video2RMSConfig.from_dict(metadata["config"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"invalid model config ({error})") from None
        model = cls(config)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(f"weights do not load into the configured Video2RMS ({error})") from None
        return model.eval()

    def upsample_sizes(self, n_frames: int) -> list[int | None]:
        """Length after each conv block: ``[2T, 4T, n_out]`` for ``"folai"``, all None for ``"linear"``."""
        if self.config.upsampling != "folai":
            return [None] * len(self.convs)
        sizes, scale = [], 1.0
        for factor in self.config.upsample_factors:
            scale *= factor
            sizes.append(max(1, round_half_up(n_frames * scale)))
        return [*sizes, self.config.n_envelope_frames_for_video_frames(n_frames)]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits for every envelope frame.

        Parameters
        ----------
        features : torch.Tensor, shape (B, T, input_dim)
            Frame features at ``config.frame_rate``.

        Returns
        -------
        torch.Tensor
            Shape ``(B, config.n_envelope_frames_for_video_frames(T), n_classes)``: unnormalised
            log-probabilities (apply softmax for probabilities).
        """
        return self.head(self._hidden(features))

    def forward_with_onsets(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class logits ``(B, N, n_classes)`` and onset logits ``(B, N)`` (None without an onset head)."""
        hidden = self._hidden(features)
        onsets = self.onset_head(hidden)[..., 0] if self.onset_head is not None else None
        return self.head(hidden), onsets

    def _hidden(self, features: torch.Tensor) -> torch.Tensor:
        """BiLSTM output ``(B, N, 2 * lstm_width)`` at the envelope rate."""
        if features.ndim != 3 or features.shape[-1] != self.config.input_dim:
            raise ValueError(
                f"features must be [batch, frames, {self.config.input_dim}], got {tuple(features.shape)}"
            )
        n_frames = features.shape[1]
        if self.time_projection is not None and n_frames != self.config.window_frames:
            raise ValueError(
                f"a 'linear' Video2RMS takes exactly {self.config.window_frames} frames "
                f"({self.config.window_s} s), got {n_frames}; use predict_envelope for other lengths"
            )
        x = features.transpose(1, 2)  # [B, D, T]: Conv1d wants channels first
        for block, size in zip(self.convs, self.upsample_sizes(n_frames)):
            x = block(x)
            if size is not None:
                x = F.interpolate(x, size=size, mode=self.config.upsample_mode)
        x, _ = self.lstm(x.transpose(1, 2))  # [B, T', 2H]
        if self.time_projection is not None:
            x = self.time_projection(x.transpose(1, 2)).transpose(1, 2)  # time T -> n_out
        return x


def create_video2rms_from_config(config: Video2RMSConfig | dict) -> Video2RMS:
    """Build a :class:`Video2RMS` from a config or its :meth:`~Video2RMSConfig.to_dict` form."""
    if not isinstance(config, Video2RMSConfig):
        config = Video2RMSConfig.from_dict(dict(config))
    return Video2RMS(config)
