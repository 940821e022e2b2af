"""The choices of a batch (:class:`VideoOptions`, a value) and what it loads for them (:class:`VideoContext`).

Kept apart from :mod:`flows.video_pipeline` so that ``sonorize synth`` builds
its options without importing the video stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from data_catalog.errors import OptionError
from tasks.library_tasks import sound_bank_task
from tasks.media_tasks import load_audio_prompt_task

LIBRARY_ENGINES = frozenset({"foley", "sao"})  # engines rendering with the foley sampler (a sound library)


@dataclass(frozen=True)
class VideoOptions:
    """The per-video choices of a batch (recorded in every run record): a value, built once per batch.

    What a batch loads for them (models, the decoded audio prompt) lives in :class:`VideoContext`.
    """

    envelope_engine: str = "auto"
    synth_engine: str = "foley"
    prompt: str | None = None
    audio_prompt: str | None = None
    seed: int = 0
    force: bool = False
    audio_prompt_sha256: str | None = None
    encoder: str | None = None
    room_tone_db: float | None = None
    reverb: float | None = None
    init_noise_level: float | None = None  # sao engine settings (None: the engine's defaults)
    steps: int | None = None
    cfg_scale: float | None = None
    sampler: str | None = None
    candidates: int | None = None
    flow: str | None = None  # optical flow of the video stage (with ``encoder``)
    fingerprint: str = ""

    def public(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("force", "fingerprint", "flow")}
        if self.flow is not None:
            data["flow"] = self.flow
        return data

    def engine_options(self) -> dict:
        """Options of the synth engine (``foley``; ``sao``: its own and those of the foley render it starts from)."""
        if self.synth_engine not in LIBRARY_ENGINES:
            return {}
        options = {"room_tone_db": self.room_tone_db, "reverb": self.reverb}
        if self.synth_engine == "sao":
            options.update(init_noise_level=self.init_noise_level, steps=self.steps, cfg_scale=self.cfg_scale,
                           sampler=self.sampler, candidates=self.candidates)
        return options


@dataclass
class VideoContext:
    """What a batch loads once for its videos, beside its :class:`VideoOptions`.

    ``video_stage`` is the encoder + flow estimator (``tasks.feature_tasks.VideoStage``, with
    ``--encoder``); the audio prompt is prepared on first use and kept for the batch's other videos.
    """

    video_stage: object | None = field(default=None, repr=False)
    _prompts: dict = field(default_factory=dict, repr=False)

    def prompt_audio(self, options: VideoOptions) -> tuple[object | None, int | None]:
        """The audio prompt, prepared once per batch: a sound bank for ``foley`` (a file or a
        folder: the user's library), the decoded sample for the other engines.
        """
        if not options.audio_prompt:
            return None, None
        key = (options.audio_prompt, options.synth_engine in LIBRARY_ENGINES)
        if key not in self._prompts:
            if options.synth_engine in LIBRARY_ENGINES:
                self._prompts[key] = (sound_bank_task(options.audio_prompt), None)
            elif Path(options.audio_prompt).is_dir():
                raise OptionError(f"{options.audio_prompt}: a folder of sounds needs --synth-engine foley or sao "
                                 f"(the {options.synth_engine!r} engine takes one audio file)")
            else:
                self._prompts[key] = load_audio_prompt_task(options.audio_prompt)
        return self._prompts[key]
