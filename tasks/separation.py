"""AudioSep separation (SPEC stage 12): weights from the model store, a file separated, cached dataset targets.

Nothing downloads here. The separator and its text-query encoder come from
``audiosep_base_4M_steps.ckpt`` (``sonorize models pull audiosep``): the
checkpoint carries the frozen LAION-CLAP it trained with (see
:mod:`folai_models.separation.inference`); laion_clap builds RoBERTa and reads
three tokenizers from the store's Hugging Face cache. A checkpoint without
the query encoder takes it from ``audiosep-clap``. Every missing piece is
reported at once, before any audio is decoded.

Audio is decoded at the network's 32 kHz (each channel separated on its own,
stereo kept), separated in overlapping 5 s windows and resampled to 44.1 kHz
stereo; AudioSep's output holds nothing above 16 kHz.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from data_catalog.errors import OptionError, SonorizeInputError, WeightsError
from data_catalog.media.audio import iter_audio_blocks, write_wav_blocks
from data_catalog.media.probe import probe_media
from data_catalog.model_store import ModelStore, ModelStoreError, pull_command
from data_catalog.separation_cache import SeparationCache, SeparationKey
from folai_models.rates import AUDIOSEP_SAMPLE_RATE, OUTPUT_SAMPLE_RATE
from tasks._options import pipeline_task
from tasks.feature_tasks import resolve_device

SEPARATION_WEIGHT = "audiosep"  # audiosep_base_4M_steps.ckpt: separator + its query encoder
QUERY_FALLBACK_WEIGHT = "audiosep-clap"  # the query encoder alone, for a checkpoint that lacks it
# laion_clap reads these tokenizers at import; roberta-base also builds CLAP's text branch
HF_WEIGHTS = ("roberta-base", "bert-base-uncased", "bart-base")
OUTPUT_CHANNELS = 2
SILENT_PEAK = 10 ** (-90 / 20)  # below -90 dBFS everywhere: nothing to separate
SETTINGS_VERSION = 1  # bump when the separation changes without a parameter changing


class SeparationWeightsMissing(WeightsError):
    """Separation cannot run: names every missing piece and the command that fetches it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(None, "source separation (AudioSep) needs what is not here:\n  - " + "\n  - ".join(problems))


def missing_separation_weights(store: ModelStore | None = None) -> list[str]:
    """What separation lacks (empty when it can run): one line per missing piece."""
    problems = []
    for module, fix in (("torch", "pip install -e '.[video]'"),
                        ("laion_clap", "bash setup.sh synth (laion_clap 1.1.7 goes in with --no-deps)")):
        if importlib.util.find_spec(module) is None:  # find_spec: importing laion_clap reaches for the hub
            problems.append(f"{module} is not installed: {fix}")
    store = store or ModelStore()
    for name in (SEPARATION_WEIGHT, *HF_WEIGHTS):
        try:
            store.require(name)
        except ModelStoreError as error:
            problems.append(f"{error} [`{pull_command(name)}`]")
    return problems


def require_separation_weights(store: ModelStore | None = None) -> None:
    problems = missing_separation_weights(store)
    if problems:
        raise SeparationWeightsMissing(problems)


def separation_revision(store: ModelStore | None = None) -> str:
    """The weights' revision in cache keys: the checkpoint's sha256 (first 16 hex digits)."""
    return (store or ModelStore()).sha256(SEPARATION_WEIGHT)[:16]


@dataclass
class Separator:
    """A loaded AudioSep: the network, the CLAP text encoder, the weights revision, the device."""

    model: object  # folai_models.separation.resunet.ResUNet30
    clap: object  # folai_models.synth.clap.ClapEmbedder
    revision: str
    device: str
    _conditions: dict = field(default_factory=dict, repr=False)

    @property
    def sample_rate(self) -> int:
        return self.model.config.sample_rate

    def condition(self, query: str):
        """The query's CLAP text embedding ``[1, 512]`` (computed once per query)."""
        if not query or not query.strip():
            raise OptionError("the separation query is empty: describe the sound to keep, e.g. 'footstep sounds'")
        if query not in self._conditions:
            self._conditions[query] = self.clap.embed_text([query])
        return self._conditions[query]


def load_separator(store: ModelStore | None = None, device: str = "auto") -> Separator:
    """AudioSep from the model store, strictly, in eval mode (once per process for the default store).

    Raises
    ------
    SeparationWeightsMissing
        Anything missing, all named with their pull commands.
    StateDictMismatchError
        A checkpoint whose keys or shapes are not AudioSep's.
    """
    store = store or ModelStore()
    require_separation_weights(store)
    device = resolve_device(device)
    if store.registry is ModelStore().registry:
        return _cached_separator(str(store.root), device)
    return _load_separator(store, device)


@lru_cache(maxsize=2)
def _cached_separator(root: str, device: str) -> Separator:
    return _load_separator(ModelStore(root), device)


def _load_separator(store: ModelStore, device: str) -> Separator:
    from data_catalog.model_store import StateDictMismatchError, load_into, offline_hf
    from folai_models.separation.inference import (
        query_audio_model,
        split_audiosep_state,
    )
    from folai_models.separation.resunet import config_from_state_dict, create_separator
    from folai_models.synth.clap import create_clap

    path = store.path(SEPARATION_WEIGHT)
    try:
        separator_state, query_state = split_audiosep_state(store.load_state_dict(SEPARATION_WEIGHT))
        model = load_into(create_separator(config_from_state_dict(separator_state)), separator_state, source=path)
        query_source = path
        if not query_state:
            try:
                store.require(QUERY_FALLBACK_WEIGHT)
            except ModelStoreError as error:
                raise SeparationWeightsMissing([f"{error} [`{pull_command(QUERY_FALLBACK_WEIGHT)}`] (the AudioSep "
                                                "checkpoint carries no query encoder)"]) from None
            query_state, query_source = store.load_state_dict(QUERY_FALLBACK_WEIGHT), store.path(QUERY_FALLBACK_WEIGHT)
        with offline_hf(store):  # laion_clap builds its tokenizers and RoBERTa with from_pretrained
            clap = create_clap(query_state, device=device, audio_model=query_audio_model(query_state))
    except ValueError as error:
        raise StateDictMismatchError(path, f"not AudioSep's layout: {error}") from None
    except RuntimeError as error:
        raise StateDictMismatchError(query_source, f"does not load into LAION-CLAP ({str(error)[:400]})") from None
    return Separator(model.to(device).eval(), clap, separation_revision(store), device)


def settings_id(window_s: float, overlap_s: float) -> str:
    """What besides query and weights changes a separated file (part of its cache key)."""
    return f"{AUDIOSEP_SAMPLE_RATE}hz-w{window_s:g}-o{overlap_s:g}-{OUTPUT_SAMPLE_RATE}x{OUTPUT_CHANNELS}-v{SETTINGS_VERSION}"


def _audio_channels(path: str) -> int:
    """Channels of the first audio stream (1 or 2 are separated as they are; more are downmixed to 2)."""
    streams = [s for s in probe_media(path).get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise SonorizeInputError(path, "no audio stream: nothing to separate")
    return 1 if int(streams[0].get("channels") or 2) == 1 else 2


def _duration_s(path: str) -> float:
    try:
        return float(probe_media(path).get("format", {}).get("duration") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def separate_stream_to_output(path: str, query: str, separator: Separator, *, window_s: float, overlap_s: float,
                              batch_windows: int, require_sound: bool, stats: dict,
                              on_progress: Callable[[float], None] | None = None) -> Iterator[np.ndarray]:
    """Decode ``path``, separate it, yield 44.1 kHz stereo blocks; fills ``stats`` (peaks, spectrograms).

    Raises SonorizeInputError (inside the iteration, so an atomic writer leaves
    nothing behind) when ``require_sound`` and the audio is silent.
    """
    import soxr

    from folai_models.separation.chunking import ChunkPlan
    from folai_models.separation.inference import separate_stream
    from folai_models.spectrogram import StreamingSpectrogram

    rate = separator.sample_rate
    channels = _audio_channels(path)
    expected = int(_duration_s(path) * rate)
    before, after = StreamingSpectrogram(rate, expected), StreamingSpectrogram(rate, expected)
    stats.update(peak_in=0.0, peak_out=0.0, n_input_samples=0, channels_in=channels)

    def decoded() -> Iterator[np.ndarray]:
        for block in iter_audio_blocks(path, sample_rate=rate, n_channels=channels):
            stats["peak_in"] = max(stats["peak_in"], float(np.abs(block).max(initial=0.0)))
            stats["n_input_samples"] += block.shape[1]
            before.update(block.mean(axis=0))
            if on_progress and expected:
                on_progress(min(1.0, stats["n_input_samples"] / expected))
            yield block
        if require_sound and stats["peak_in"] < SILENT_PEAK:
            raise SonorizeInputError(path, f"the audio is silent (peak {20 * np.log10(max(stats['peak_in'], 1e-12)):.0f} "
                                           "dBFS): nothing to separate")

    plan = ChunkPlan.from_seconds(rate, window_s, overlap_s)
    resampler = soxr.ResampleStream(rate, OUTPUT_SAMPLE_RATE, channels, dtype="float32")
    blocks = separate_stream(separator.model, separator.condition(query), decoded(), plan=plan,
                             batch_windows=batch_windows)
    for block in blocks:
        after.update(block.mean(axis=0))
        stats["peak_out"] = max(stats["peak_out"], float(np.abs(block).max(initial=0.0)))
        out = resampler.resample_chunk(np.ascontiguousarray(block.T))
        if len(out):
            yield np.repeat(out.T, OUTPUT_CHANNELS // channels, axis=0)
    tail = resampler.resample_chunk(np.zeros((0, channels), np.float32), last=True)
    if len(tail):
        yield np.repeat(tail.T, OUTPUT_CHANNELS // channels, axis=0)
    stats["spectrograms"] = (before.finish(), after.finish())


@pipeline_task(name="separate-audio", tags=("gpu", "separation"))
def separate_file_task(path: str, out_wav: str, query: str, separator: Separator, *, png: str | None = None,
                       window_s: float | None = None, overlap_s: float | None = None, batch_windows: int | None = None,
                       on_progress: Callable[[float], None] | None = None) -> dict:
    """Separate the sound ``query`` describes from any audio or video file into a 44.1 kHz stereo WAV.

    Also draws a before/after spectrogram PNG when ``png`` is given. The WAV is
    written atomically (nothing is left behind on failure). Returns details:
    durations, peaks, wall time, real-time factor, weights revision.
    """
    from folai_models.separation.chunking import BATCH_WINDOWS, OVERLAP_S, WINDOW_S

    window_s, overlap_s = window_s or WINDOW_S, OVERLAP_S if overlap_s is None else overlap_s
    started = time.perf_counter()
    stats: dict = {}
    blocks = separate_stream_to_output(path, query, separator, window_s=window_s, overlap_s=overlap_s,
                                       batch_windows=batch_windows or BATCH_WINDOWS, require_sound=True, stats=stats,
                                       on_progress=on_progress)
    n_out = write_wav_blocks(out_wav, blocks, OUTPUT_SAMPLE_RATE)
    wall = time.perf_counter() - started
    duration = stats["n_input_samples"] / separator.sample_rate
    if png:
        from data_catalog.spectrogram_plot import plot_before_after

        (before, column_s), (after, _) = stats["spectrograms"]
        plot_before_after(png, before, after, column_s, separator.sample_rate,
                          title=f"{Path(path).name}: '{query}' (AudioSep)", labels=("input", f"separated: '{query}'"))
    return {"source": path, "wav": out_wav, "png": png, "query": query, "revision": separator.revision,
            "duration_s": round(duration, 3), "output_samples": n_out, "sample_rate": OUTPUT_SAMPLE_RATE,
            "channels": OUTPUT_CHANNELS, "channels_separated": stats["channels_in"],
            "peak_in": round(stats["peak_in"], 6), "peak_out": round(stats["peak_out"], 6),
            "wall_s": round(wall, 3), "seconds_per_audio_minute": round(60 * wall / max(duration, 1e-9), 2),
            "device": separator.device, "window_s": window_s, "overlap_s": overlap_s}


@pipeline_task(name="separate-target", tags=("gpu", "separation", "dataset"))
def separated_target_audio(path: str, source_sha256: str, query: str, *, separator: Callable[[], Separator],
                           revision: str, cache: SeparationCache | None = None,
                           window_s: float | None = None, overlap_s: float | None = None) -> tuple[Path, bool, str]:
    """The separated audio of a dataset item, from the cache or separated now (and cached).

    ``separator`` is called only on a cache miss (loading AudioSep costs seconds).
    Returns ``(wav path, from cache, cache key id)``. Silent audio is passed
    through (separated silence is silence) instead of failing.
    """
    from folai_models.separation.chunking import BATCH_WINDOWS, OVERLAP_S, WINDOW_S

    window_s, overlap_s = window_s or WINDOW_S, OVERLAP_S if overlap_s is None else overlap_s
    cache = cache or SeparationCache()
    key = SeparationKey(source_sha256, query, revision, settings_id(window_s, overlap_s))
    cached = cache.get(key)
    if cached is not None:
        return cached, True, key.id
    loaded = separator()
    stats: dict = {}
    blocks = separate_stream_to_output(path, query, loaded, window_s=window_s, overlap_s=overlap_s,
                                       batch_windows=BATCH_WINDOWS, require_sound=False, stats=stats)
    wav = cache.put(key, blocks, OUTPUT_SAMPLE_RATE, extra={"source": str(path), "device": loaded.device})
    return wav, False, key.id


__all__ = ["HF_WEIGHTS", "SEPARATION_WEIGHT", "SeparationWeightsMissing", "Separator", "load_separator",
           "missing_separation_weights", "require_separation_weights", "separate_file_task", "separated_target_audio",
           "separation_revision", "settings_id"]
