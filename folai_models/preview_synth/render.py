"""The preview engine's entry point: :func:`render_from_envelope`."""

from __future__ import annotations

import numpy as np

from folai_models import materials as _materials
from folai_models.events import SILENCE_RMS
from folai_models.preview_synth.carrier import carrier
from folai_models.preview_synth.gain import follow_gain
from folai_models.preview_synth.limiter import PEAK_LIMIT, limit
from folai_models.preview_synth.measure import frames_to_samples
from folai_models.preview_synth.validation import check_inputs, check_prompt
from folai_models.preview_synth.voices import material_voice, prompt_voice
from folai_models.rates import ENVELOPE_FRAME_RATE, OUTPUT_SAMPLE_RATE

N_CHANNELS = 2  # stereo output (spec stage 10)


def _render(mid, side, h, frame_rate: float, sample_rate: int, out: np.ndarray) -> bool:
    """``out`` = limited ``sqrt(h) * (mid +- side)``; True if the limiter acted."""
    gain = np.sqrt(frames_to_samples(h, frame_rate, sample_rate, mid.size))
    if side is None:
        np.multiply(gain, mid, out=out[0], casting="same_kind")
    else:
        np.multiply(gain, mid + side, out=out[0], casting="same_kind")
        np.multiply(gain, mid - side, out=out[1], casting="same_kind")
    return limit(out, sample_rate)


def render_from_envelope(
    envelope,
    frame_rate: float = ENVELOPE_FRAME_RATE,
    *,
    sample_rate: int = OUTPUT_SAMPLE_RATE,
    material: str | None = None,
    prompt: str | None = None,
    audio_prompt=None,
    audio_prompt_sample_rate: float | None = None,
    seed: int = 0,
    n_channels: int = N_CHANNELS,
) -> np.ndarray:
    """Render audio whose RMS envelope follows ``envelope`` (the preview engine).

    Parameters
    ----------
    envelope : array_like, shape (n_frames,)
        Target RMS envelope, values >= 0 (normally in [0, 1]; < 0.01 is
        silence), frame ``i`` centred at ``(i + 0.5) / frame_rate`` seconds.
    frame_rate : float
        Envelope frames per second (125 = 16 kHz / hop 128).
    sample_rate : int
        Output sample rate.
    material : str, optional
        Material name or synonym (see :data:`folai_models.materials.MATERIALS`);
        unknown names raise ValueError. Takes precedence over ``prompt``.
    prompt : str, optional
        Text prompt; its first material word picks the material
        (:func:`folai_models.materials.material_from_prompt`, default wood).
    audio_prompt : array_like, shape (n,) or (channels, n), optional
        A user's sample; when given, grains (cut at its onsets, one per
        event, played as recorded) and textures (granulated) come from it,
        downmixed to mono, instead of a procedural material; ``material``
        and ``prompt`` are then only validated.
    audio_prompt_sample_rate : float, optional
        Sample rate of ``audio_prompt``; required with it.
    seed : int
        Seed of all randomness; same inputs and seed give identical output.
    n_channels : int
        2 (stereo, decorrelated) or 1.

    Returns
    -------
    np.ndarray, shape (n_channels, n_samples), float32
        ``n_samples = round(n_frames / frame_rate * sample_rate)``, all
        ``|samples| <= 0.99``. Its mono downmix's RMS envelope
        (:func:`envelope_rms`) follows ``envelope``, except where the target
        exceeds the limiter's headroom.

    Raises
    ------
    ValueError
        Bad envelope, frame rate, sample rate, channel count, unknown
        material, or an empty / non-finite / silent audio prompt.
    """
    env = check_inputs(envelope, frame_rate, sample_rate, n_channels)
    frame_rate = float(frame_rate)
    sample_rate = int(sample_rate)
    if material is not None:
        name = _materials.resolve_material(material)
    else:
        name = _materials.material_from_prompt(prompt)
    if audio_prompt is not None:
        mono = check_prompt(audio_prompt, audio_prompt_sample_rate)
        voice = prompt_voice(mono, float(audio_prompt_sample_rate), sample_rate)
    else:
        voice = material_voice(name, sample_rate)

    n_samples = int(round(env.size / frame_rate * sample_rate))
    out = np.zeros((n_channels, n_samples), dtype=np.float32)
    if n_samples == 0 or not np.any(env >= SILENCE_RMS):
        return out

    mid, side = carrier(env, frame_rate, sample_rate, n_samples, voice,
                         np.random.default_rng(seed), n_channels)
    h = follow_gain(mid, env, frame_rate, sample_rate)
    _render(mid, side, h, frame_rate, sample_rate, out)
    np.clip(out, -PEAK_LIMIT, PEAK_LIMIT, out=out)
    return out
