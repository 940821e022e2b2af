"""The ControlNet's input: the RMS envelope at audio rate, stereo, encoded by the frozen VAE (FolAI IV-D1).

In training the envelope of each channel of the target comes from the
ground-truth audio; at inference the predicted (mono) envelope serves both
channels. Either way it is interpolated to the length in samples of the
audio to generate and encoded by the same VAE as the audio.
"""

from __future__ import annotations

import numpy as np
import soxr
import torch

from folai_models.envelope import FRAME_LENGTH, HOP_LENGTH, interpolate_envelope, rms_envelope
from folai_models.rates import ENVELOPE_SAMPLE_RATE


def control_audio(envelope: np.ndarray, frame_rate: float, n_samples: int, channels: int = 2) -> np.ndarray:
    """The envelope as an audio-rate signal ``[channels, n_samples]``.

    Parameters
    ----------
    envelope : np.ndarray, shape (n_frames,) or (channels, n_frames)
        RMS envelope(s) in [0, 1]; a mono envelope is copied to every channel.
    frame_rate : float
        Frames per second of ``envelope``.
    n_samples : int
        Samples of the audio it controls.
    channels : int
        Output channels (2: stereo).
    """
    env = np.asarray(envelope, dtype=np.float32)
    if env.ndim == 1:
        env = np.broadcast_to(env, (channels, env.shape[0]))
    if env.shape[0] != channels:
        raise ValueError(f"envelope has {env.shape[0]} channels, the audio {channels}")
    return interpolate_envelope(env, frame_rate, n_target=int(n_samples))


def stereo_envelope(audio: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """Per-channel RMS envelope ``[channels, n_frames]`` of ``audio`` ``[channels, n]`` (frame, hop in samples)."""
    return np.stack([rms_envelope(channel, frame_length=frame_length, hop_length=hop_length)
                     for channel in np.asarray(audio, dtype=np.float32)])


def chunk_envelope(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-channel RMS envelope (125 frames/s) of ``[channels, n]`` audio, measured at 16 kHz like stage 7.

    What the ControlNet is trained on (the targets' envelopes) and how its demo clips are scored.
    """
    low = soxr.resample(np.ascontiguousarray(audio.T), sample_rate, ENVELOPE_SAMPLE_RATE).T
    return stereo_envelope(low, frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH)


def encode_deterministic(pretransform, audio: torch.Tensor) -> torch.Tensor:
    """Latent of ``audio`` ``[batch, channels, n]``: the VAE posterior's mean where there is one.

    stable-audio-tools' VAE bottleneck samples ``mean + std * noise`` on every
    encode; the control must be a function of the envelope, so for an
    autoencoder with a VAE bottleneck the mean is used. Other pretransforms
    (deterministic already) encode as usual.
    """
    from stable_audio_tools.models.bottleneck import VAEBottleneck
    from stable_audio_tools.models.pretransforms import AutoencoderPretransform

    if isinstance(pretransform, AutoencoderPretransform) and isinstance(pretransform.model.bottleneck, VAEBottleneck):
        autoencoder = pretransform.model
        latents = autoencoder.encoder(audio.to(next(autoencoder.parameters()).dtype))
        mean, _ = latents.chunk(2, dim=1)
        return mean / pretransform.scale
    return pretransform.encode(audio)
