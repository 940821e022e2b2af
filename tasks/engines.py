"""Engines: what predicts the envelope and what renders audio, chosen by name.

Each engine joins media I/O (data_catalog) to the science (folai_models)
behind one small interface, so a neural engine (``video2rms``, ``folai``)
is one more class in a registry, not a change to the flow.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from data_catalog.media import VideoInfo, iter_frame_windows
from data_catalog.media.frames import FRAME_RATE, prefetched
from folai_models import envelope as env_math
from folai_models import materials, motion_envelope, preview_synth
from folai_models.windowed_render import iter_windowed_render


class EnvelopeEngine(ABC):
    """Predicts an RMS envelope (125 frames/s, values in [0, 1]) for a video.

    ``details``: what the last :meth:`predict` decided (``auto``'s choice and reason, the steps' source),
    for the run record; empty for engines that decide nothing.
    """

    name: str
    details: dict = {}

    @abstractmethod
    def predict(self, info: VideoInfo, video_sha256: str | None = None) -> tuple[np.ndarray, float]:
        """Return ``(envelope, frame_rate)`` covering the whole video (``video_sha256``: its id, if known)."""

    def describe(self) -> dict:
        return {"name": self.name}


class SynthEngine(ABC):
    """Renders audio that follows an envelope, window by window (any length, flat memory)."""

    name: str

    @abstractmethod
    def render_blocks(self, envelope: np.ndarray, frame_rate: float, *, n_samples: int, sample_rate: int,
                      prompt: str | None, audio_prompt: np.ndarray | None, audio_prompt_rate: int | None,
                      seed: int, video_path: str | None = None) -> tuple[Iterator[np.ndarray], dict]:
        """Return ``(blocks, details)``: consecutive ``[2, n]`` float32 blocks adding up to ``n_samples``.

        ``video_path``: the video the sound is for, for engines conditioned on its frames.
        """

    def describe(self) -> dict:
        return {"name": self.name}


class PreviewEnvelopeEngine(EnvelopeEngine):
    """Weight-free envelope from visible motion (dense optical flow), CPU only."""

    name = "preview"

    def predict(self, info: VideoInfo, video_sha256: str | None = None) -> tuple[np.ndarray, float]:
        windows = prefetched(iter_frame_windows(info, frame_rate=FRAME_RATE))
        envelope = motion_envelope.estimate_envelope(windows, duration_s=info.duration_s)
        return np.asarray(envelope, dtype=np.float32), env_math.envelope_frame_rate()


class Video2RMSEnvelopeEngine(EnvelopeEngine):
    """The learned envelope model (FolAI IV-C) on cached frame features.

    Its checkpoint names the encoder it was trained on; with the shipped
    checkpoint (``motion`` features) no pretrained weights are needed.
    """

    name = "video2rms"

    def __init__(self, checkpoint: str | Path | None = None, device: str = "auto"):
        self.checkpoint = Path(checkpoint) if checkpoint else default_video2rms_checkpoint()
        if self.checkpoint is None:
            raise ValueError("no Video2RMS checkpoint: set SONORIZE_VIDEO2RMS_CHECKPOINT or train one "
                             "(train-video2rms flow); the package ships none in this install")
        self.device = device

    def predict(self, info: VideoInfo, video_sha256: str | None = None) -> tuple[np.ndarray, float]:
        from data_catalog.hashing import sha256_file
        from folai_models.video2rms import predict_envelope
        from folai_models.video2rms.level_map import apply_level_map
        from tasks.feature_tasks import frame_features_task

        model, config, stage, normalizer, level_map = _load_video2rms(str(self.checkpoint), self.device)
        features, _ = frame_features_task.fn(info, video_sha256 or sha256_file(info.path), stage)
        envelope = apply_level_map(predict_envelope(model, normalizer(features), config), level_map)
        return np.asarray(envelope, dtype=np.float32), config.envelope_rate

    def describe(self) -> dict:
        return {"name": self.name, "checkpoint": str(self.checkpoint)}


SHIPPED_VIDEO2RMS = Path(__file__).resolve().parents[1] / "folai_models" / "checkpoints" / "video2rms-motion.safetensors"


def default_video2rms_checkpoint() -> Path | None:
    """The configured checkpoint (``SONORIZE_VIDEO2RMS_CHECKPOINT``), else the shipped one, else None."""
    from data_catalog.settings import get_settings

    configured = get_settings().video2rms_checkpoint
    if configured:
        return Path(configured)
    return SHIPPED_VIDEO2RMS if SHIPPED_VIDEO2RMS.is_file() else None


@lru_cache(maxsize=2)
def _load_video2rms(checkpoint: str, device: str):
    """Model, config, video stage, feature normaliser and level map of a checkpoint (loaded once per process)."""
    from data_catalog.checkpoints import CheckpointError, load_checkpoint
    from tasks.feature_tasks import build_video_stage, resolve_device
    from tasks.training_data import FeatureNormalizer

    device = resolve_device(device)
    model, config, meta = load_checkpoint(checkpoint, map_location=device)
    extra = meta.get("extra", {})
    stage = build_video_stage(extra.get("encoder", "motion"), device=device)
    trained_on = extra.get("feature_revision")
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
    return model.to(device).eval(), config, stage, FeatureNormalizer.from_dict(extra), level_map


def resolve_envelope_engine(name: str) -> str:
    """The engine name, checked against the registry (ValueError lists the choices).

    ``auto`` stays ``auto``: it decides per video, from evidence (:class:`tasks.step_engines.AutoEnvelopeEngine`).
    """
    if name not in ENVELOPE_ENGINES:
        raise ValueError(f"unknown envelope engine {name!r}; available: {', '.join(sorted(ENVELOPE_ENGINES))}")
    return name


class PreviewSynthEngine(SynthEngine):
    """Weight-free synthesis: procedural materials or grains of the user's sample."""

    name = "preview"

    def render_blocks(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
                      audio_prompt_rate, seed, video_path=None):
        material = None if audio_prompt is not None else materials.material_from_prompt(prompt)

        def render(env_slice: np.ndarray, window: int) -> np.ndarray:
            return preview_synth.render_from_envelope(
                env_slice, frame_rate, sample_rate=sample_rate, material=material, prompt=prompt,
                audio_prompt=audio_prompt, audio_prompt_sample_rate=audio_prompt_rate, seed=seed + window,
            )

        blocks = iter_windowed_render(render, envelope, frame_rate, sample_rate)
        source = "audio prompt" if audio_prompt is not None else f"procedural material '{material}'"
        return fit_length(blocks, n_samples), {"material": material, "source": source}


class FoleySynthEngine(SynthEngine):
    """Envelope-timed events that sound recorded: a sampler over the user's library or procedural materials.

    The envelope places every event and sets its loudness; one-shots keep
    their natural tails, sustained stretches get textures, and a room-tone bed
    runs under everything (:mod:`folai_models.foley`). ``audio_prompt`` is a
    :class:`~folai_models.foley.SoundBank` (``tasks.library_tasks.sound_bank_task``)
    or one in-memory sample; without it the text prompt picks a procedural
    material (footsteps when it asks for steps).
    """

    name = "foley"

    def __init__(self, room_tone_db: float | None = None, reverb: float | None = None):
        # Checked here, when the batch starts, not when the first video is rendered.
        if room_tone_db is not None and not (room_tone_db <= 0.0):  # NaN fails too; -inf turns it off
            raise ValueError(f"room tone level must be at most 0 dBFS (or -inf for none), got {room_tone_db!r}")
        if reverb is not None and not (0.0 <= reverb <= 1.0):
            raise ValueError(f"reverb must be a wet level in [0, 1], got {reverb!r}")
        self.room_tone_db = room_tone_db
        self.reverb = reverb

    def render_blocks(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
                      audio_prompt_rate, seed, video_path=None):
        from data_catalog.errors import SonorizeInputError
        from folai_models import foley

        source_rng = np.random.default_rng([seed, 1])
        if audio_prompt is not None:
            bank = audio_prompt if isinstance(audio_prompt, foley.SoundBank) else \
                foley.bank_from_audio(audio_prompt, audio_prompt_rate, sample_rate)
            if len(bank) == 0:
                raise SonorizeInputError(None, "audio prompt: no usable one-shots ("
                                         + "; ".join(bank.skipped or ["nothing above its noise floor"]) + ")")
            source = foley.SamplerSource(bank, sample_rate, prompt, source_rng)
        else:
            source = foley.ProceduralSource(materials.material_from_prompt(prompt), sample_rate, source_rng,
                                            footsteps=foley.wants_footsteps(prompt))
        blocks, details = foley.render_foley(envelope, frame_rate, sample_rate, n_samples, source, seed=seed,
                                             room_tone_db=self.room_tone_db, reverb=self.reverb)
        return fit_length(blocks, n_samples), details

    def describe(self) -> dict:
        return {"name": self.name, "room_tone_db": self.room_tone_db, "reverb": self.reverb}


class FolAISynthEngine(SynthEngine):
    """FolAI's neural synthesis: Stable Audio Open + the envelope ControlNet (SPEC stage 10).

    Needs ``stable-audio-open`` in the model store and a trained ControlNet
    checkpoint (``train-controlnet`` flow); constructing the engine checks
    both and names what is missing. Windows of :data:`WINDOW_S` (the training
    chunk length) are generated independently and crossfaded.
    """

    name = "folai"

    def __init__(self, checkpoint: str | Path | None = None, device: str = "auto", **sampler_kwargs):
        from tasks.folai_synth import default_controlnet_checkpoint, require_folai_weights

        self.checkpoint = Path(checkpoint) if checkpoint else default_controlnet_checkpoint()
        require_folai_weights(self.checkpoint)
        self.device = device
        self.sampler_kwargs = sampler_kwargs

    def render_blocks(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
                      audio_prompt_rate, seed, video_path=None):
        from folai_models.synth.sampling import WINDOW_S, windowed_renderer
        from tasks.feature_tasks import resolve_device
        from tasks.folai_synth import load_folai_model

        device = resolve_device(self.device)
        model = load_folai_model(str(self.checkpoint), device)
        if sample_rate != model.sample_rate:
            raise ValueError(f"the folai model renders {model.sample_rate} Hz, {sample_rate} Hz was asked for")
        clap, source = None, "envelope only (no prompt: semantic conditions null)"
        if audio_prompt is not None or prompt:
            from tasks.folai_synth import load_clap

            embedder = load_clap(device=device)
            if audio_prompt is not None:  # the shared CLAP space: an audio prompt or a text prompt
                clap, source = embedder.embed_audio(audio_prompt[None], audio_prompt_rate)[0], "CLAP audio prompt"
            else:
                clap, source = embedder.embed_text([prompt])[0], f"CLAP text prompt '{prompt}'"
        cavp_windows = None
        if model.conditioned_on_cavp:
            if video_path is None:
                raise ValueError("this ControlNet was trained with CAVP video conditioning: it needs the video")
            from tasks.folai_synth import load_cavp, video_cavp_embeddings

            frames = video_cavp_embeddings(video_path, load_cavp(device=device), device)
            cavp_windows = _cavp_windows(frames, np.asarray(envelope), frame_rate, WINDOW_S)
            source += ", CAVP video embeddings"
        render = windowed_renderer(model, frame_rate, clap=clap, cavp_windows=cavp_windows, seed=seed,
                                   device=device, **self.sampler_kwargs)
        blocks = iter_windowed_render(render, envelope, frame_rate, sample_rate, window_s=WINDOW_S)
        return fit_length(blocks, n_samples), {"source": f"Stable Audio Open + envelope ControlNet, {source}",
                                               "checkpoint": str(self.checkpoint)}

    def describe(self) -> dict:
        return {"name": self.name, "checkpoint": str(self.checkpoint)}


class SAOSynthEngine(SynthEngine):
    """Stable Audio Open 1.0 regenerating the ``foley`` engine's render, conditioned on the text prompt.

    The foley engine renders the envelope (its events sit where the envelope
    says); SAO starts from that render's latent noised to ``init_noise_level``
    and denoises it under its own T5 prompt and seconds conditioning, window by
    window (up to :data:`~folai_models.synth.audio_to_audio.WINDOW_S`,
    crossfaded). Each window keeps the best-timed of ``candidates`` seeds; the
    per-window timing scores go into the run record. Needs ``stable-audio-open``
    and ``t5-base`` in the model store: constructing the engine names each missing file.
    """

    name = "sao"

    def __init__(self, init_noise_level: float | None = None, steps: int | None = None,
                 cfg_scale: float | None = None, sampler: str | None = None, candidates: int | None = None,
                 room_tone_db: float | None = None, reverb: float | None = None, device: str = "auto"):
        from folai_models.synth import audio_to_audio as a2a
        from folai_models.synth.sampling import SAMPLER_TYPE, SAMPLERS
        from tasks.sao_synth import require_sao_text_weights

        # Checked here, when the batch starts, not when the first video is rendered.
        self.init_noise_level = a2a.check_init_noise_level(
            a2a.INIT_NOISE_LEVEL if init_noise_level is None else init_noise_level)
        self.steps = a2a.STEPS if steps is None else int(steps)
        self.cfg_scale = a2a.CFG_SCALE if cfg_scale is None else float(cfg_scale)
        self.sampler = sampler or SAMPLER_TYPE
        self.candidates = 1 if candidates is None else int(candidates)
        if self.steps < 1 or self.candidates < 1:
            raise ValueError(f"steps and candidates must be at least 1, got {self.steps} and {self.candidates}")
        if not np.isfinite(self.cfg_scale):
            raise ValueError(f"cfg scale must be a finite number, got {cfg_scale!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        self.render_engine = FoleySynthEngine(room_tone_db=room_tone_db, reverb=reverb)
        require_sao_text_weights()
        self.device = device

    def settings(self) -> dict:
        return {"init_noise_level": self.init_noise_level, "steps": self.steps, "cfg_scale": self.cfg_scale,
                "sampler": self.sampler, "candidates": self.candidates}

    def render_blocks(self, envelope, frame_rate, *, n_samples, sample_rate, prompt, audio_prompt,
                      audio_prompt_rate, seed, video_path=None):
        from data_catalog.settings import get_settings
        from folai_models.synth.audio_to_audio import WINDOW_S, windowed_regenerator
        from folai_models.windowed_render import BlockReader, window_spans
        from tasks.feature_tasks import resolve_device
        from tasks.sao_synth import load_sao_text_model

        device = resolve_device(self.device)
        model = load_sao_text_model(str(get_settings().model_dir), device)
        if sample_rate != model.sample_rate:
            raise ValueError(f"Stable Audio Open renders {model.sample_rate} Hz, {sample_rate} Hz was asked for")
        render, render_details = self.render_engine.render_blocks(
            envelope, frame_rate, n_samples=n_samples, sample_rate=sample_rate, prompt=prompt,
            audio_prompt=audio_prompt, audio_prompt_rate=audio_prompt_rate, seed=seed, video_path=video_path)
        envelope = np.asarray(envelope)
        windows: list[dict] = []  # filled as the blocks are rendered; the run record gets it
        regenerate = windowed_regenerator(
            model, BlockReader(render).read, window_spans(envelope, frame_rate, window_s=WINDOW_S), frame_rate,
            prompt or "", seed=seed, candidates=self.candidates, records=windows, device=device,
            init_noise_level=self.init_noise_level, steps=self.steps, cfg_scale=self.cfg_scale,
            sampler_type=self.sampler)
        blocks = iter_windowed_render(regenerate, envelope, frame_rate, sample_rate, window_s=WINDOW_S)
        details = {"source": f"Stable Audio Open audio-to-audio of the foley render ({render_details['source']}), "
                             f"T5 prompt '{prompt or ''}'",
                   "render": render_details, **self.settings(), "windows": windows}
        return fit_length(blocks, n_samples), details

    def describe(self) -> dict:
        return {**self.render_engine.describe(), **self.settings(), "name": self.name}


def _cavp_windows(frames, envelope: np.ndarray, frame_rate: float, window_s: float):
    """Slices of a video's 4 fps CAVP embeddings matching the windows iter_windowed_render cuts."""
    from folai_models.synth.cavp import CAVP_FPS
    from folai_models.windowed_render import OVERLAP_S, cut_frames

    bounds = [0, *cut_frames(envelope, frame_rate, window_s=window_s), len(envelope)]
    overlap = int(np.ceil(OVERLAP_S * frame_rate))

    def window(index: int, n_frames: int):
        start_s = max(0, bounds[index] - overlap) / frame_rate
        first = min(int(round(start_s * CAVP_FPS)), max(0, len(frames) - 1))
        count = max(1, int(round(n_frames / frame_rate * CAVP_FPS)))
        part = frames[first:first + count]
        if len(part) < count:  # the envelope runs past the last decoded frame: hold it
            part = np.concatenate([np.asarray(part), np.repeat(np.asarray(frames[-1:]), count - len(part), 0)])
        import torch

        return torch.as_tensor(np.asarray(part))

    return window


def fit_length(blocks: Iterable[np.ndarray], n_samples: int) -> Iterator[np.ndarray]:
    """Trim or zero-pad a stream of ``[channels, n]`` blocks to exactly ``n_samples`` in all."""
    total, channels = 0, 2
    for block in blocks:
        channels = block.shape[0]
        block = block[:, : max(0, n_samples - total)]
        total += block.shape[1]
        if block.shape[1]:
            yield block
    if total < n_samples:
        yield np.zeros((channels, n_samples - total), np.float32)


ENVELOPE_ENGINES: dict[str, type[EnvelopeEngine]] = {"preview": PreviewEnvelopeEngine,
                                                     "video2rms": Video2RMSEnvelopeEngine}
from tasks.step_engines import AutoEnvelopeEngine, StepsEnvelopeEngine  # noqa: E402  (they build on the classes above)

ENVELOPE_ENGINES.update(steps=StepsEnvelopeEngine, auto=AutoEnvelopeEngine)
SYNTH_ENGINES: dict[str, type[SynthEngine]] = {"foley": FoleySynthEngine, "preview": PreviewSynthEngine,
                                               "folai": FolAISynthEngine, "sao": SAOSynthEngine}
DEFAULT_SYNTH_ENGINE = "foley"


def _lookup(registry: dict, kind: str, name: str, **options):
    try:
        engine_class = registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} engine {name!r}; available: {', '.join(sorted(registry))}") from None
    return engine_class(**options)


def get_envelope_engine(name: str) -> EnvelopeEngine:
    """The envelope engine registered under ``name`` (ValueError lists the choices).

    ``steps`` raises SonorizeInputError saying how to install MediaPipe when it is missing.
    """
    return _lookup(ENVELOPE_ENGINES, "envelope", resolve_envelope_engine(name))


def get_synth_engine(name: str, **options) -> SynthEngine:
    """The synthesis engine registered under ``name``, built with ``options`` (ValueError lists the choices).

    ``folai`` and ``sao`` raise :class:`tasks.folai_synth.SynthWeightsMissing` when their weights are
    not there. ``foley`` takes ``room_tone_db`` and ``reverb``; ``sao`` those (for its render) and
    ``init_noise_level``, ``steps``, ``cfg_scale``, ``sampler``, ``candidates``; ``None`` values are dropped.
    """
    options = {k: v for k, v in options.items() if v is not None}
    return _lookup(SYNTH_ENGINES, "synth", name, **options)


def resolve_synth_engine(name: str, fallback_to_preview: bool = False, warn=None) -> str:
    """``name``, or ``preview`` when ``name`` cannot run and the user allowed the fallback.

    Without ``fallback_to_preview`` the engine's own error (naming the missing
    weights and the commands that fetch them) propagates.
    """
    if name == "preview" or not fallback_to_preview:
        return name
    from data_catalog.errors import SonorizeError

    try:
        get_synth_engine(name)
    except SonorizeError as error:
        if warn is not None:
            warn(f"synth engine {name!r} unavailable, falling back to 'preview' as asked: {error}")
        return "preview"
    return name
